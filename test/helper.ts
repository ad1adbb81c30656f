import { randomBytes } from 'node:crypto'
import { basename } from 'node:path'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { Redis } from 'ioredis'
import postgres from 'postgres'
import { buildApp } from '../src/app.js'
import { loadConfig, type Config } from '../src/config.js'
import { scanKeys } from '../src/redis.js'

type Test = { teardown: (fn: () => unknown) => void, fullname: string }

export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
export const JWT_SECRET = 'test-secret-that-is-long-enough-for-hs256-0123456789'

function slug (text: string): string {
  return text.toLowerCase().replace(/[^a-z0-9]+/g, '_').slice(0, 30)
}

/**
 * A database of its own for one test file (created here, dropped at teardown), so files run in parallel.
 * Returns its URL.
 */
export async function createTestDatabase (t: Test): Promise<string> {
  const name = `t_${slug(basename(process.argv[1] ?? 'test'))}_${randomBytes(4).toString('hex')}`
  const admin = postgres(DATABASE_URL, { max: 1, onnotice: () => {} })
  await admin.unsafe(`create database "${name}"`)
  t.teardown(async () => {
    await admin.unsafe(`drop database if exists "${name}" with (force)`)
    await admin.end()
  })
  const url = new URL(DATABASE_URL)
  url.pathname = `/${name}`
  return url.toString()
}

/** A Redis key prefix of its own for one test file; its keys are deleted at teardown. */
export function createRedisPrefix (t: Test): string {
  const prefix = `test:${slug(basename(process.argv[1] ?? 'test'))}:${randomBytes(4).toString('hex')}:`
  t.teardown(async () => { await deleteRedisKeys(prefix) })
  return prefix
}

export async function deleteRedisKeys (prefix: string): Promise<void> {
  const redis = new Redis(REDIS_URL)
  try {
    for await (const keys of scanKeys(redis, `${prefix}*`)) await redis.del(...keys)
  } finally {
    redis.disconnect()
  }
}

/** Config for a test against the real servers; `env` overrides any variable. */
export async function testConfig (t: Test, env: Record<string, string | undefined> = {}): Promise<Config> {
  return loadConfig({
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    JWT_SECRET,
    DATABASE_URL: await createTestDatabase(t),
    REDIS_URL,
    REDIS_KEY_PREFIX: createRedisPrefix(t),
    ...env
  })
}

/** The whole app on its own database and Redis prefix, closed at teardown. */
export async function build (t: Test, env: Record<string, string | undefined> = {}): Promise<FastifyInstance> {
  return await buildFromConfig(t, await testConfig(t, env))
}

export async function buildFromConfig (t: Test, config: Config): Promise<FastifyInstance> {
  const app = await buildApp(config)
  t.teardown(async () => { await app.close() })
  await app.ready()
  return app
}

export interface Session { id: number, token: string, auth: { authorization: string } }

/** Registers a user (an admin needs `adminToken` once one exists) and logs in. */
export async function signUp (
  app: FastifyInstance,
  username: string,
  options: { role?: 'user' | 'admin', adminToken?: string } = {}
): Promise<Session> {
  const password = `${username}-password`
  const registered = await app.inject({
    method: 'POST',
    url: '/users/register',
    payload: { username, password, ...(options.role !== undefined && { role: options.role }) },
    headers: options.adminToken !== undefined ? { authorization: `Bearer ${options.adminToken}` } : {}
  })
  if (registered.statusCode !== 201) throw new Error(`register ${username}: ${registered.statusCode} ${registered.body}`)
  const login = await app.inject({ method: 'POST', url: '/users/login', payload: { username, password } })
  if (login.statusCode !== 200) throw new Error(`login ${username}: ${login.statusCode} ${login.body}`)
  const token = login.json<{ access_token: string }>().access_token
  return { id: registered.json<{ user: { id: number } }>().user.id, token, auth: { authorization: `Bearer ${token}` } }
}

/** Asserts nothing internal leaked into an error body. */
export function isCleanError (response: LightMyRequestResponse): boolean {
  const body = response.json<Record<string, unknown>>()
  return typeof body.statusCode === 'number' && typeof body.error === 'string' && typeof body.message === 'string' &&
    !/stack|select |insert |update |\bat \w+ \(|node_modules/i.test(response.body)
}
