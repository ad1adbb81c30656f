import net from 'node:net'
import type { FastifyInstance } from 'fastify'

declare module 'fastify' {
  interface FastifyInstance {
    /** True from the moment shutdown begins: health checks answer 503 so that load balancers stop routing here. */
    readonly draining: boolean
  }
}

/**
 * Graceful shutdown without resetting a connection.
 *
 * Two ways to reset one are avoided:
 * - http.Server#close (and Fastify's close) drops every keep-alive connection idle at that instant, but its
 *   client may be sending its next request on it at that very moment;
 * - closing the listening socket resets every connection the kernel has completed but Node has not yet
 *   accepted, and a load balancer keeps opening them until its health check sees this instance go.
 * So the drain goes in two steps:
 * 1. keep accepting, but answer every request with `Connection: close` (each client closes its connection
 *    after its current request) and every health check with 503 (load balancers stop sending new ones);
 *    wait until no connection is left, or `drainMs` for clients that stay idle or keep reconnecting;
 * 2. then stop accepting and close the app: idle connections left are dropped, in-flight requests finish
 *    (new ones on a kept-alive connection get 503), and every onClose hook closes its pool.
 */
export function gracefulShutdown (app: FastifyInstance): (drainMs: number) => Promise<void> {
  let draining = false
  app.decorate('draining', { getter: () => draining })
  // A callback hook: it runs on every response, and an async one costs a promise each time.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (draining) reply.header('connection', 'close')
    done(null, payload)
  })

  let connections = 0
  let lastConnectionClosed = (): void => {}
  app.server.on('connection', (socket: net.Socket) => {
    connections++
    socket.once('close', () => {
      if (--connections === 0) lastConnectionClosed()
    })
  })

  return async (drainMs) => {
    draining = true
    const { server } = app
    if (server.listening) {
      if (connections > 0) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, drainMs)
          timer.unref()
          lastConnectionClosed = () => {
            clearTimeout(timer)
            resolve()
          }
        })
      }
      // Not Fastify's close yet: that would also drop the idle keep-alive connections left.
      net.Server.prototype.close.call(server)
    }
    await app.close()
  }
}
