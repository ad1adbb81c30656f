import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import net from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { Redis } from 'ioredis'

type Test = { teardown: (fn: () => unknown) => void }

/** Polls `check` until it returns true, failing after `timeoutMs`: a deadline, never a fixed sleep. */
export async function waitFor (what: string, check: () => boolean | Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await check()) return
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(25)
  }
}

export async function freePort (): Promise<number> {
  const server = net.createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as net.AddressInfo
  server.close()
  await once(server, 'close')
  return port
}

/** A redis-server of this test's own, on a free port, without persistence: stop() and start() it at will. */
export interface PrivateRedis { port: number, url: string, start: () => Promise<void>, stop: () => Promise<void> }

export async function privateRedis (t: Test, port?: number): Promise<PrivateRedis> {
  const chosen = port ?? await freePort()
  let child: ChildProcess | undefined
  const url = `redis://127.0.0.1:${chosen}`
  const stop = async (): Promise<void> => {
    if (child === undefined) return
    const exited = once(child, 'exit')
    child.kill('SIGKILL')
    await exited
    child = undefined
  }
  const start = async (): Promise<void> => {
    child = spawn('redis-server', ['--port', String(chosen), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' })
    await waitFor(`redis-server on port ${chosen}`, async () => {
      const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
      probe.on('error', () => {})
      try {
        await probe.connect()
        return (await probe.ping()) === 'PONG'
      } catch {
        return false
      } finally {
        probe.disconnect()
      }
    })
  }
  t.teardown(stop)
  return { port: chosen, url, start, stop }
}

/**
 * A TCP proxy in front of a server (PostgreSQL, Redis): cut() drops every connection and refuses new
 * ones, restore() accepts again on the same port. `inspect` sees each chunk a client sends and may
 * return 'cut' to drop everything at that very moment (e.g. in the middle of a transaction).
 */
export interface TcpProxy {
  port: number
  cut: () => Promise<void>
  restore: () => Promise<void>
  /** Drops every connection, then accepts new ones but never answers (a host that went silent). */
  blackhole: () => Promise<void>
  /** Keeps every connection open but forwards nothing either way (packets silently dropped). */
  stall: () => void
  inspect?: (chunk: Buffer) => 'pass' | 'cut'
}

export async function tcpProxy (t: Test, target: { host: string, port: number }): Promise<TcpProxy> {
  const port = await freePort()
  const sockets = new Set<net.Socket>()
  let server: net.Server | undefined
  let stalled = false
  const proxy: TcpProxy = {
    port,
    stall () { stalled = true },
    async cut () {
      const closing = server
      server = undefined
      for (const socket of sockets) socket.destroy()
      sockets.clear()
      if (closing !== undefined) await new Promise((resolve) => closing.close(resolve))
    },
    async blackhole () {
      await proxy.cut()
      server = net.createServer((client) => {
        sockets.add(client)
        client.on('error', () => {})
      })
      server.listen(port, '127.0.0.1')
      await once(server, 'listening')
    },
    async restore () {
      stalled = false
      if (server !== undefined) await proxy.cut()
      server = net.createServer((client) => {
        const upstream = net.connect(target.port, target.host)
        sockets.add(client).add(upstream)
        const drop = (): void => {
          client.destroy()
          upstream.destroy()
          sockets.delete(client)
          sockets.delete(upstream)
        }
        client.on('data', (chunk) => {
          if (proxy.inspect?.(chunk) === 'cut') {
            proxy.cut().then(proxy.restore).catch(() => {})
            return
          }
          if (!stalled) upstream.write(chunk)
        })
        upstream.on('data', (chunk) => { if (!stalled) client.write(chunk) })
        client.on('close', drop).on('error', drop)
        upstream.on('close', drop).on('error', drop)
      })
      server.listen(port, '127.0.0.1')
      await once(server, 'listening')
    }
  }
  await proxy.restore()
  t.teardown(proxy.cut)
  return proxy
}

export interface RedisMonitor {
  /** Each command Redis has received since the monitor started: its arguments, and who sent it (`127.0.0.1:port`, or `lua`). */
  readonly commands: Array<{ args: string[], source: string }>
  stop: () => Promise<void>
}

const ESCAPES: Record<string, string> = { n: '\n', r: '\r', t: '\t', a: '\x07', b: '\b' }

/**
 * MONITOR on a plain socket: ioredis' monitor mode fails ("Command queue state error") when the first lines
 * arrive in the same read as MONITOR's +OK, which a busy shared Redis (test files run in parallel) makes likely.
 */
export async function redisMonitor (url: string): Promise<RedisMonitor> {
  const { hostname, port } = new URL(url)
  const socket = net.connect(Number(port === '' ? 6379 : port), hostname === '' ? '127.0.0.1' : hostname)
  socket.setEncoding('latin1')
  await once(socket, 'connect')
  socket.write('MONITOR\r\n')
  const commands: Array<{ args: string[], source: string }> = []
  let buffered = ''
  let started: () => void = () => {}
  const ok = new Promise<void>((resolve) => { started = resolve })
  socket.on('data', (chunk: string) => {
    buffered += chunk
    let end: number
    while ((end = buffered.indexOf('\r\n')) >= 0) {
      const line = buffered.slice(0, end)
      buffered = buffered.slice(end + 2)
      if (line === '+OK') { started(); continue }
      // +<time> [<db> <source>] "arg" "arg"...
      const source = /^\+[\d.]+ \[\d+ ([^\]]+)\]/.exec(line)?.[1]
      if (source === undefined) continue
      const args = [...line.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map(([, quoted]) => (quoted ?? '').replace(/\\(x[0-9a-f]{2}|.)/g,
        (_, escaped: string) => escaped.length === 3 ? String.fromCharCode(parseInt(escaped.slice(1), 16)) : ESCAPES[escaped] ?? escaped))
      commands.push({ args, source })
    }
  })
  await ok
  return {
    commands,
    async stop () {
      socket.end()
      await once(socket, 'close')
    }
  }
}
