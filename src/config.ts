import { randomBytes } from 'node:crypto'
import { Type, type Static } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'

/**
 * Every setting the service reads from the environment, with its default.
 * Parsed and validated once at start-up; the rest of the code receives the typed result.
 */
const EnvSchema = Type.Object({
  NODE_ENV: Type.Union([Type.Literal('development'), Type.Literal('production'), Type.Literal('test')], { default: 'development' }),
  HOST: Type.String({ default: '0.0.0.0' }),
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000 }),
  LOG_LEVEL: Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)), { default: 'info' }),
  TRUST_PROXY: Type.Boolean({ default: false }),
  BODY_LIMIT_BYTES: Type.Integer({ minimum: 1024, default: 1_048_576 }),
  REQUEST_TIMEOUT_MS: Type.Integer({ minimum: 0, default: 30_000 }),
  HEADERS_TIMEOUT_MS: Type.Integer({ minimum: 1, default: 10_000 }),
  HANDLER_TIMEOUT_MS: Type.Integer({ minimum: 0, default: 15_000 }),
  SHUTDOWN_DRAIN_MS: Type.Integer({ minimum: 0, default: 3000 }),
  KEEP_ALIVE_TIMEOUT_MS: Type.Integer({ minimum: 1, default: 72_000 }),
  MAX_HEADER_BYTES: Type.Integer({ minimum: 1024, default: 16_384 }),
  JSON_MAX_DEPTH: Type.Integer({ minimum: 1, default: 32 }),
  CORS_ORIGINS: Type.Optional(Type.String({ minLength: 1 })),

  DATABASE_URL: Type.Optional(Type.String({ minLength: 1 })),
  PGLITE_DATA_DIR: Type.String({ default: './data/pglite' }),
  DB_POOL_MAX: Type.Integer({ minimum: 1, default: 10 }),
  DB_CONNECT_TIMEOUT_S: Type.Integer({ minimum: 1, default: 5 }),
  DB_STATEMENT_TIMEOUT_MS: Type.Integer({ minimum: 0, default: 10_000 }),

  REDIS_URL: Type.Optional(Type.String({ minLength: 1 })),
  REDIS_KEY_PREFIX: Type.String({ default: '' }),
  REDIS_COMMAND_TIMEOUT_MS: Type.Integer({ minimum: 1, default: 2000 }),
  COHERENCE_TIMEOUT_MS: Type.Integer({ minimum: 50, default: 2000 }),

  JWT_SECRET: Type.Optional(Type.String({ minLength: 1 })),
  JWT_EXPIRES_IN_S: Type.Integer({ minimum: 1, default: 86_400 }),
  AUTH_STATE_TTL_S: Type.Integer({ minimum: 1, default: 60 }),
  JWT_VERIFY_CACHE_SIZE: Type.Integer({ minimum: 0, default: 10_000 }),
  // Read by libuv itself when the process starts; read here too, to run as many password hashes at once.
  UV_THREADPOOL_SIZE: Type.Integer({ minimum: 1, maximum: 1024, default: 4 }),
  ADMIN_USERNAME: Type.Optional(Type.String({ minLength: 1 })),
  ADMIN_PASSWORD: Type.Optional(Type.String({ minLength: 1 })),

  RATE_LIMIT_MAX: Type.Integer({ minimum: 1, default: 100 }),
  RATE_LIMIT_WINDOW_MS: Type.Integer({ minimum: 1, default: 3_600_000 }),
  RATE_LIMIT_TASK_LIST_MAX: Type.Integer({ minimum: 1, default: 5 }),
  RATE_LIMIT_TASK_LIST_WINDOW_MS: Type.Integer({ minimum: 1, default: 60_000 }),
  RATE_LIMIT_CHECK_MAX: Type.Integer({ minimum: 1, default: 5 }),
  RATE_LIMIT_CHECK_WINDOW_MS: Type.Integer({ minimum: 1, default: 60_000 }),
  RATE_LIMIT_LOGIN_MAX: Type.Integer({ minimum: 1, default: 10 }),
  RATE_LIMIT_LOGIN_WINDOW_MS: Type.Integer({ minimum: 1, default: 60_000 }),
  RATE_LIMIT_LOGIN_USERNAME_MAX: Type.Integer({ minimum: 1, default: 5 }),
  RATE_LIMIT_FAIL_OPEN: Type.Boolean({ default: true }),
  RATE_LIMIT_LEASE_MAX: Type.Integer({ minimum: 1, default: 64 }),

  CACHE_TTL_S: Type.Integer({ minimum: 1, default: 3600 }),
  CACHE_LOCAL_MAX_BYTES: Type.Integer({ minimum: 0, default: 16_777_216 }),
  QUEUE_NAME: Type.String({ minLength: 1, default: 'tasks' }),
  DAILY_TASK_LOG_TIME: Type.String({ pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$', default: '00:05' }),
  QUEUE_CONCURRENCY: Type.Integer({ minimum: 1, default: 2 }),
  QUEUE_STALL_INTERVAL_MS: Type.Integer({ minimum: 100, default: 5000 }),
  JOB_RETRIES: Type.Integer({ minimum: 0, default: 5 }),
  JOB_BACKOFF_MS: Type.Integer({ minimum: 1, default: 1000 }),
  RELAY_INTERVAL_MS: Type.Integer({ minimum: 100, default: 10_000 }),
  IMPORT_MAX_BYTES: Type.Integer({ minimum: 1024, default: 10 * 1024 * 1024 }),
  IMPORT_BATCH_SIZE: Type.Integer({ minimum: 1, maximum: 5000, default: 500 })
})

type Env = Static<typeof EnvSchema>

export interface Config {
  env: Env['NODE_ENV']
  host: string
  port: number
  logLevel: Env['LOG_LEVEL']
  trustProxy: boolean
  bodyLimit: number
  requestTimeoutMs: number
  /** Time a client has to send the request headers (slowloris), and idle keep-alive sockets are kept. */
  headersTimeoutMs: number
  keepAliveTimeoutMs: number
  /** A request not answered this long after it arrived gets 503 (0: no limit). */
  handlerTimeoutMs: number
  /** On SIGTERM, how long open connections may take to finish before the rest are closed. */
  shutdownDrainMs: number
  maxHeaderBytes: number
  /** Deepest nesting of arrays/objects a JSON body may have. */
  jsonMaxDepth: number
  /** Origins allowed by CORS; empty: CORS off (no Access-Control-* headers at all). */
  corsOrigins: string[]
  db: {
    url?: string
    pgliteDataDir: string
    poolMax: number
    connectTimeoutS: number
    statementTimeoutMs: number
  }
  redis: {
    url?: string
    keyPrefix: string
    commandTimeoutMs: number
    /**
     * How long a process may go unheard on the coherence channel before it stops trusting what it holds, and so
     * the longest a write waits for a silent process to apply it (src/coherence.ts).
     */
    coherenceTimeoutMs: number
  }
  /**
   * authStateTtlS: how long a user's token version and role are cached in Redis (bounds operator edits made in SQL);
   * verifyCacheSize: tokens whose signature and claims check is remembered until their exp (plugins/auth.ts; 0: none).
   */
  jwt: { secret: string, expiresInS: number, authStateTtlS: number, verifyCacheSize: number }
  /** Password hashes run at once: one per thread of libuv's pool (src/users/passwords.ts). */
  passwordHashConcurrency: number
  bootstrapAdmin?: { username: string, password: string }
  rateLimit: {
    failOpen: boolean
    /** The most hits of a limit one process takes from Redis at once, to count locally (1: every hit asks Redis). */
    leaseMax: number
    global: RateLimitRule
    taskList: RateLimitRule
    checkLimiter: RateLimitRule
    login: RateLimitRule
    /** Login attempts per username (whatever the IP) per login window. */
    loginPerUsernameMax: number
  }
  cacheTtlS: number
  /** Bytes of task lists each API process keeps in memory in front of Redis (0: none). */
  cacheLocalMaxBytes: number
  queueName: string
  /** UTC hour and minute at which the daily task log snapshot runs. */
  dailyTaskLogAt: { hour: number, minute: number }
  jobs: {
    /** Jobs one worker process runs at once. */
    concurrency: number
    /** A job whose worker stops renewing its lock for this long is handed to another worker. */
    stallIntervalMs: number
    /** Attempts after the first, spaced by exponential backoff from backoffMs. */
    retries: number
    backoffMs: number
    /** How often pending work recorded in PostgreSQL is enqueued again (after a Redis outage, say). */
    relayIntervalMs: number
  }
  imports: { maxBytes: number, batchSize: number }
}

export interface RateLimitRule { max: number, windowMs: number }

export class ConfigError extends Error {
  override name = 'ConfigError'
}

const MIN_PRODUCTION_SECRET_BYTES = 32

/**
 * Builds the typed config from an environment (process.env by default).
 * Throws ConfigError with every problem listed when the environment is invalid.
 */
export function loadConfig (source: Record<string, string | undefined> = process.env): Config {
  const raw: Record<string, string> = {}
  for (const key of Object.keys(EnvSchema.properties)) {
    const value = source[key]
    if (value !== undefined && value !== '') raw[key] = value
  }
  const env = Value.Convert(EnvSchema, Value.Default(EnvSchema, raw))
  if (!Value.Check(EnvSchema, env)) {
    const problems = [...Value.Errors(EnvSchema, env)].map((e) => `${e.path.slice(1)}: ${e.message}`)
    throw new ConfigError(`Invalid environment:\n  ${problems.join('\n  ')}`)
  }

  if (env.NODE_ENV === 'production' && Buffer.byteLength(env.JWT_SECRET ?? '') < MIN_PRODUCTION_SECRET_BYTES) {
    throw new ConfigError(`JWT_SECRET must be set to at least ${MIN_PRODUCTION_SECRET_BYTES} bytes in production`)
  }
  if ((env.ADMIN_USERNAME === undefined) !== (env.ADMIN_PASSWORD === undefined)) {
    throw new ConfigError('ADMIN_USERNAME and ADMIN_PASSWORD must be set together')
  }
  const [hour, minute] = env.DAILY_TASK_LOG_TIME.split(':').map(Number)

  return {
    env: env.NODE_ENV,
    host: env.HOST,
    port: env.PORT,
    logLevel: env.LOG_LEVEL,
    trustProxy: env.TRUST_PROXY,
    bodyLimit: env.BODY_LIMIT_BYTES,
    requestTimeoutMs: env.REQUEST_TIMEOUT_MS,
    headersTimeoutMs: env.HEADERS_TIMEOUT_MS,
    keepAliveTimeoutMs: env.KEEP_ALIVE_TIMEOUT_MS,
    handlerTimeoutMs: env.HANDLER_TIMEOUT_MS,
    shutdownDrainMs: env.SHUTDOWN_DRAIN_MS,
    maxHeaderBytes: env.MAX_HEADER_BYTES,
    jsonMaxDepth: env.JSON_MAX_DEPTH,
    corsOrigins: (env.CORS_ORIGINS ?? '').split(',').map((o) => o.trim()).filter((o) => o !== ''),
    db: {
      url: env.DATABASE_URL,
      pgliteDataDir: env.PGLITE_DATA_DIR,
      poolMax: env.DB_POOL_MAX,
      connectTimeoutS: env.DB_CONNECT_TIMEOUT_S,
      statementTimeoutMs: env.DB_STATEMENT_TIMEOUT_MS
    },
    redis: {
      url: env.REDIS_URL,
      keyPrefix: env.REDIS_KEY_PREFIX,
      commandTimeoutMs: env.REDIS_COMMAND_TIMEOUT_MS,
      coherenceTimeoutMs: env.COHERENCE_TIMEOUT_MS
    },
    // Outside production a missing secret is replaced by a random one: tokens then last as long as the process.
    jwt: {
      secret: env.JWT_SECRET ?? randomBytes(32).toString('hex'),
      expiresInS: env.JWT_EXPIRES_IN_S,
      authStateTtlS: env.AUTH_STATE_TTL_S,
      verifyCacheSize: env.JWT_VERIFY_CACHE_SIZE
    },
    passwordHashConcurrency: env.UV_THREADPOOL_SIZE,
    bootstrapAdmin: env.ADMIN_USERNAME !== undefined && env.ADMIN_PASSWORD !== undefined
      ? { username: env.ADMIN_USERNAME, password: env.ADMIN_PASSWORD }
      : undefined,
    rateLimit: {
      failOpen: env.RATE_LIMIT_FAIL_OPEN,
      leaseMax: env.RATE_LIMIT_LEASE_MAX,
      global: { max: env.RATE_LIMIT_MAX, windowMs: env.RATE_LIMIT_WINDOW_MS },
      taskList: { max: env.RATE_LIMIT_TASK_LIST_MAX, windowMs: env.RATE_LIMIT_TASK_LIST_WINDOW_MS },
      checkLimiter: { max: env.RATE_LIMIT_CHECK_MAX, windowMs: env.RATE_LIMIT_CHECK_WINDOW_MS },
      login: { max: env.RATE_LIMIT_LOGIN_MAX, windowMs: env.RATE_LIMIT_LOGIN_WINDOW_MS },
      loginPerUsernameMax: env.RATE_LIMIT_LOGIN_USERNAME_MAX
    },
    cacheTtlS: env.CACHE_TTL_S,
    cacheLocalMaxBytes: env.CACHE_LOCAL_MAX_BYTES,
    queueName: env.QUEUE_NAME,
    dailyTaskLogAt: { hour: hour ?? 0, minute: minute ?? 5 },
    jobs: {
      concurrency: env.QUEUE_CONCURRENCY,
      stallIntervalMs: env.QUEUE_STALL_INTERVAL_MS,
      retries: env.JOB_RETRIES,
      backoffMs: env.JOB_BACKOFF_MS,
      relayIntervalMs: env.RELAY_INTERVAL_MS
    },
    imports: { maxBytes: env.IMPORT_MAX_BYTES, batchSize: env.IMPORT_BATCH_SIZE }
  }
}
