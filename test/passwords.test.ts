import { connect } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import t from 'tap'
import { inArray } from 'drizzle-orm'
import { users } from '../src/db/schema.js'
import type { HttpError } from '../src/errors.js'
import { createPasswordHasher } from '../src/users/passwords.js'
import { build } from './helper.js'

await t.test('a hash waiting its turn is dropped unstarted when its signal aborts; the others run in order', async (t) => {
  const passwords = createPasswordHasher(1)
  const hash = await passwords.hash('right-password')
  const abandoned = new AbortController()
  const first = passwords.verify(hash, 'right-password')
  const second = passwords.verify(hash, 'right-password', abandoned.signal)
  const third = passwords.verify(hash, 'wrong-password')
  abandoned.abort() // while `first` holds the only slot
  t.equal(await first, true)
  t.equal(await second.then(() => 'hashed', (error: HttpError) => error.statusCode), 499, 'client closed the request')
  t.equal(await third, false)
  t.equal(await passwords.verify('not-an-argon2-hash', 'right-password'), false, 'an unreadable hash is a mismatch')
})

await t.test('a registration whose client left while it waited for a hash thread creates no user', async (t) => {
  // One hash at a time, and a queue of them ahead: the registrations below wait their turn for ~20 hashes' time.
  const app = await build(t, { UV_THREADPOOL_SIZE: '1' })
  await app.listen({ host: '127.0.0.1', port: 0 })
  const { port } = app.server.address() as { port: number }
  const ahead = Array.from({ length: 20 }, async () => await app.passwords.hash('someone-else'))

  const names = Array.from({ length: 5 }, (_, i) => `gone_${i}`)
  const sockets = names.map((username) => {
    const body = JSON.stringify({ username, password: 'gone-password' })
    const socket = connect(port, '127.0.0.1')
    socket.on('error', () => {})
    socket.write(`POST /users/register HTTP/1.1\r\nhost: api\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`)
    return socket
  })
  await sleep(100) // received and queued: the queue ahead holds the thread far longer
  for (const socket of sockets) socket.destroy()

  const stayed = await fetch(`http://127.0.0.1:${port}/users/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'stayed', password: 'stayed-password' })
  })
  t.equal(stayed.status, 201, 'a client that waits is answered once its turn comes')
  await Promise.all(ahead)
  const created = await app.db.select({ username: users.username }).from(users).where(inArray(users.username, [...names, 'stayed']))
  t.same(created.map((row) => row.username), ['stayed'], 'the abandoned registrations were never hashed nor stored')
})
