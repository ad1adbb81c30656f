import net from 'node:net'
import type { FastifyInstance } from 'fastify'

/**
 * Graceful shutdown without resetting a keep-alive connection.
 *
 * http.Server#close (and Fastify's close) drops every connection that is idle at that instant, but a
 * keep-alive client may be sending its next request on it at that very moment: it gets ECONNRESET.
 * So the drain goes in two steps:
 * 1. stop accepting connections (the listening socket only) and answer every request on the open ones
 *    with `Connection: close`, so each client closes its connection after its current request and
 *    opens no new one here; wait until they are all gone, or `drainMs` for clients that stay idle;
 * 2. then close the app: idle connections left are dropped, in-flight requests finish (new ones on
 *    a kept-alive connection get 503), and every onClose hook closes its pool.
 */
export function gracefulShutdown (app: FastifyInstance): (drainMs: number) => Promise<void> {
  let draining = false
  // A callback hook: it runs on every response, and an async one costs a promise each time.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (draining) reply.header('connection', 'close')
    done(null, payload)
  })

  return async (drainMs) => {
    draining = true
    const { server } = app
    if (server.listening) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, drainMs)
        timer.unref()
        net.Server.prototype.close.call(server, () => {
          clearTimeout(timer)
          resolve()
        })
      })
    }
    await app.close()
  }
}
