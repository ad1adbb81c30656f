// Errors that mean PostgreSQL or Redis did not answer, as opposed to a bug: they map to 503.
const POSTGRES_CONNECTION_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH',
  'CONNECT_TIMEOUT', 'CONNECTION_CLOSED', 'CONNECTION_ENDED', 'CONNECTION_DESTROYED'
])
const REDIS_UNAVAILABLE = /Connection is closed|Stream isn't writeable|Command timed out|Reached the max retries|ECONNREFUSED/

/** True when an error says a dependency is down or too slow, not that the request or the code is wrong. */
export function isDependencyUnavailable (error: unknown): boolean {
  for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code
    if (typeof code === 'string') {
      if (POSTGRES_CONNECTION_CODES.has(code)) return true
      // 08: connection exception, 57: operator intervention (statement timeout, shutdown), 53: insufficient resources.
      if (/^(08|57|53)[0-9A-Z]{3}$/.test(code)) return true
    }
    if (e.name === 'MaxRetriesPerRequestError' || REDIS_UNAVAILABLE.test(e.message)) return true
  }
  return false
}
