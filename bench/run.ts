/**
 * npm run bench: the built API (node dist/src/server.js, production mode) against the real PostgreSQL and
 * Redis, on a database and key prefix of its own, measured with autocannon next to a bare Fastify server.
 *
 *   npm run bench                 the full suite, twice (the second run checks for RSS growth)
 *   npm run bench -- --smoke      every scenario for ~1.5 s, asserting only that none has errors (CI)
 *   npm run bench -- --profile    with the server under --cpu-prof (bench/profiles/), scenario 1 unless BENCH_ONLY says
 *   npm run bench -- --perf       Linux perf's on-CPU samples of the server during each scenario (bench/profiles/)
 *   npm run bench -- --no-build   use dist/ as it is
 *
 * Environment: DATABASE_URL (an admin connection, default postgres://postgres@127.0.0.1:5432/test),
 * REDIS_URL, BENCH_CONNECTIONS, BENCH_DURATION_S, BENCH_WARMUP_S, BENCH_RUNS, BENCH_SMOKE=1, UV_THREADPOOL_SIZE,
 * BENCH_SERVER_NODE_FLAGS (the API server's node and V8 flags, the Dockerfile's by default), BENCH_SERVER_ENTRY (another
 * build's server.js, e.g. an older commit's, to compare).
 */
import { execFileSync, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs'
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { Redis } from 'ioredis'
import postgres from 'postgres'
import { drizzle } from 'drizzle-orm/postgres-js'
import { createRedisTaskListCache } from '../src/cache/task-list-cache.js'
import * as schema from '../src/db/schema.js'
import { scanKeys } from '../src/redis.js'
import { dayListQueries } from '../src/tasks/service.js'
import { settledMemory, type SettledMemory } from './lib/inspector.js'
import { cpuSeconds, diffCpu, freePort, postgresCpuSeconds, rssMb, sampleRss, startNode, type Child } from './lib/processes.js'
import { PASSWORD, seed, type Seeded } from './lib/seed.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const args = new Set(process.argv.slice(2))
const smoke = args.has('--smoke') || process.env.BENCH_SMOKE === '1'
// --cpu-prof samples wall time: a thread the kernel switched out inside a syscall (a socket write that woke
// PostgreSQL, which took the core) is counted in that syscall. perf's cpu-clock samples only time on a CPU.
const perf = args.has('--perf')
const profile = args.has('--profile') || perf
// BENCH_ONLY=1,2,5: run only these scenarios (ids as in the table: 1, 2, 3, 4, 5, 5b, 6).
const only = new Set((process.env.BENCH_ONLY ?? (profile ? '1' : '')).split(',').filter((id) => id !== ''))
const wanted = (id: string): boolean => only.size === 0 || only.has(id)
const connections = Number(process.env.BENCH_CONNECTIONS ?? (smoke ? 10 : 50))
const durationS = Number(process.env.BENCH_DURATION_S ?? (smoke ? 1.5 : 10))
const warmupS = Number(process.env.BENCH_WARMUP_S ?? (smoke ? 0.5 : 3))
const runs = smoke || profile ? 1 : Number(process.env.BENCH_RUNS ?? 2)
const size = smoke ? { users: 10, tasks: 2000, days: 20 } : { users: 50, tasks: 20_000, days: 60 }
const adminUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test'
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
// The server's runtime settings, as the Dockerfile sets them (bench/README.md says why); each may be overridden.
// argon2id holds ~19 MiB per running hash, one per pool thread: one thread per core.
const threadpool = process.env.UV_THREADPOOL_SIZE ?? String(availableParallelism())
const serverRuntime = {
  UV_THREADPOOL_SIZE: threadpool,
  MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? '2',
  MALLOC_MMAP_THRESHOLD_: process.env.MALLOC_MMAP_THRESHOLD_ ?? '131072',
  GLIBC_TUNABLES: process.env.GLIBC_TUNABLES ?? 'glibc.malloc.hugetlb=1'
}
// The node flags of the Dockerfile's CMD. On the command line, not in NODE_OPTIONS, which refuses most V8 flags
// (--heap-growing-percent, --trace-gc): BENCH_SERVER_NODE_FLAGS replaces them, to try others.
const serverNodeFlags = (process.env.BENCH_SERVER_NODE_FLAGS ?? '--max-old-space-size=160 --max-semi-space-size=4 --heap-growing-percent=100')
  .split(' ').filter((flag) => flag !== '')

/** Cores each party used during a measured run; `eventLoop` is the server's main thread, part of `server`. */
interface CoresUsed { server: number, eventLoop: number, client: number, redis: number, postgres: number }

interface Measured {
  name: string
  reqPerSec: number
  p50: number
  p99: number
  requests: number
  errors: number
  non2xx: number
  statuses: Record<string, number>
  rssPeakMb: number
  /** Cores used during the measured run by the server, the load generator (this process), Redis and PostgreSQL (every backend on this host). */
  cpu?: CoresUsed
  ratio?: number
  /** The bare server's req/s measured just before and just after this scenario: the ratio is to their mean. */
  bareBeside?: [number, number]
  target?: string
  pass?: boolean
}

type RequestSetup = (request: autocannon.Request) => autocannon.Request

interface Load {
  url: string
  connections?: number
  durationS?: number
  method?: 'GET' | 'POST' | 'PUT'
  path?: string
  body?: string
  headers?: Record<string, string>
  setupRequest?: RequestSetup
  /**
   * Hands each client its own fixed requests (built once, when set): then `path` and `setupRequest` only
   * make the placeholder autocannon builds first. Every client building the whole list twice, the load's
   * and its own, cost the load generator ~0.8 s of CPU at the start of each measured run (bench/README.md).
   */
  setupClient?: (client: autocannon.Client) => void
}

async function fire (load: Load, seconds: number): Promise<autocannon.Result> {
  return await autocannon({
    url: load.url,
    connections: load.connections ?? connections,
    duration: seconds,
    method: load.method ?? 'GET',
    headers: { 'content-type': 'application/json', ...load.headers },
    ...(load.body !== undefined && { body: load.body }),
    requests: [{ path: load.path ?? '/', ...(load.setupRequest !== undefined && { setupRequest: load.setupRequest }) }],
    ...(load.setupClient !== undefined && { setupClient: load.setupClient })
  })
}

function summarise (name: string, result: autocannon.Result, rssPeak: number, okStatuses: number[] = []): Measured {
  const statuses: Record<string, number> = {}
  for (const [code, stat] of Object.entries(result.statusCodeStats ?? {})) statuses[code] = stat.count ?? 0
  const unexpected = Object.entries(statuses)
    .filter(([code]) => !(Number(code) >= 200 && Number(code) < 300) && !okStatuses.includes(Number(code)))
    .reduce((sum, [, count]) => sum + count, 0)
  return {
    name,
    reqPerSec: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    requests: result.requests.total,
    errors: result.errors + result.timeouts,
    non2xx: unexpected,
    statuses,
    rssPeakMb: rssPeak
  }
}

/** Warm-up (discarded), then the measured run while sampling the server's RSS. */
async function measure (name: string, server: Child, load: Load, okStatuses: number[] = []): Promise<Measured> {
  if (warmupS > 0) await fire(load, warmupS)
  const rss = sampleRss(server.pid)
  const cpu = cpuMeter(server.pid)
  const recording = perf && !name.startsWith('bare') ? perfRecord(server.pid, name) : undefined
  const result = await fire(load, load.durationS ?? durationS)
  await recording?.stop()
  return { ...summarise(name, result, rss.stop(), okStatuses), cpu: cpu.stop() }
}

/** `perf record` of one process until stopped: bench/profiles/<scenario>.perf.data, read with `perf report -i`. */
function perfRecord (pid: number, scenario: string): { stop: () => Promise<void> } {
  const file = `${root}bench/profiles/${scenario.split(' ').slice(0, 3).join('-').replace(/[^\w-]/g, '')}.perf.data`
  const recorder = spawn('perf', ['record', '-q', '-e', 'cpu-clock', '-F', '2999', '-g', '-p', String(pid), '-o', file], { stdio: 'ignore' })
  const exited = new Promise<void>((resolve) => recorder.once('close', () => { resolve() }))
  recorder.once('error', (error) => { console.error(`perf record: ${error.message}`) })
  return {
    stop: async () => {
      recorder.kill('SIGINT')
      await exited
      console.error(`  perf samples: ${file}`)
    }
  }
}

let redisPid = Number.NaN
function cpuMeter (serverPid: number): { stop: () => CoresUsed } {
  const started = performance.now()
  const before = {
    server: cpuSeconds(serverPid),
    eventLoop: cpuSeconds(serverPid, serverPid),
    client: process.cpuUsage(),
    redis: cpuSeconds(redisPid),
    postgres: postgresCpuSeconds()
  }
  return {
    stop: () => {
      const wallS = (performance.now() - started) / 1000
      const client = process.cpuUsage(before.client)
      const round = (x: number): number => Math.round(x * 100) / 100
      return {
        server: round((cpuSeconds(serverPid) - before.server) / wallS),
        eventLoop: round((cpuSeconds(serverPid, serverPid) - before.eventLoop) / wallS),
        client: round((client.user + client.system) / 1e6 / wallS),
        redis: round((cpuSeconds(redisPid) - before.redis) / wallS),
        postgres: round(diffCpu(before.postgres, postgresCpuSeconds()) / wallS)
      }
    }
  }
}

function rotate<T> (items: readonly T[]): () => T {
  let i = 0
  return () => items[i++ % items.length] as T
}

async function rawArgon2 (seconds: number): Promise<number> {
  const out = execFileSync(process.execPath, [fileURLToPath(new URL('argon2-verify.mjs', import.meta.url))], {
    // The server's runtime settings (pool size, malloc tuning): the ceiling of the same deployment.
    env: { ...process.env, ...serverRuntime, DURATION_MS: String(seconds * 1000), CONCURRENCY: String(connections) },
    encoding: 'utf8'
  })
  return (JSON.parse(out) as { perSecond: number }).perSecond
}

async function suite (api: Child, bareUrl: string, bare: Child, data: Seeded, redis: Redis, prefix: string): Promise<{ rows: Measured[], argon2PerS: number }> {
  const rows: Measured[] = []
  const log = (m: Measured): void => {
    rows.push(m)
    console.error(`  ${m.name}: ${m.reqPerSec.toFixed(0)} req/s, p99 ${m.p99} ms, errors ${m.errors}, non-2xx ${m.non2xx}` +
      (m.cpu !== undefined ? `, cores used: server ${m.cpu.server} (event loop ${m.cpu.eventLoop}), client ${m.cpu.client}, redis ${m.cpu.redis}, postgres ${m.cpu.postgres}` : ''))
  }
  const auth = (token: string): Record<string, string> => ({ authorization: `Bearer ${token}` })
  const bareRow = await measure('bare fastify {"hello":"world"}', bare, { url: bareUrl })
  log(bareRow)
  // The yardstick is measured again after each scenario, and each ratio is to the bare server just before and
  // just after it: on a shared VM the bare server moved by a third within one run (bench/README.md).
  const measureBare = async (): Promise<Measured> => await measure('bare fastify', bare, { url: bareUrl })
  let bareLast = bareRow
  const logBesideBare = async (row: Measured): Promise<void> => {
    log(row)
    const after = await measureBare()
    row.bareBeside = [bareLast.reqPerSec, after.reqPerSec]
    row.ratio = row.reqPerSec / ((bareLast.reqPerSec + after.reqPerSec) / 2)
    console.error(`  bare fastify: ${after.reqPerSec.toFixed(0)} req/s -> ratio ${row.ratio.toFixed(2)}`)
    bareLast = after
  }

  // Requests without a setupRequest are built once per client by autocannon, as the bare server's one request
  // is: rebuilding each request doubled the client's CPU per request, taken from the server on a 2-core host.
  // So each client gets its own fixed list, from its running number (over warm-ups and runs alike); requests
  // carry only their own headers (autocannon adds the load's content type).
  let clientsSetUp = 0
  const ownRequests = (build: (n: number) => autocannon.Request[]) => (client: autocannon.Client): void => {
    client.setRequests(build(clientsSetUp++))
  }
  // Each client starts at its own place in the rotation.
  const readRequests = data.lists.map(({ user, date }) => ({ method: 'GET' as const, path: `/tasks/task/${date}`, headers: auth(user.token) }))
  const cachedRead: Load = {
    url: api.url,
    setupClient: ownRequests((n) => {
      const start = (n * 101) % readRequests.length
      return [...readRequests.slice(start), ...readRequests.slice(0, start)]
    })
  }
  if (wanted('1')) await logBesideBare(await measure('1 cached read GET /tasks/task/:date', api, cachedRead))

  // Every request reads a list invalidated at least MISS_LEAD requests earlier (and not read since): by the time
  // it is asked for, every API process has heard of the write (src/coherence.ts), so its own copy and Redis'
  // both miss. Invalidating just before sending would race the API's channel, and measure some hits. A date is
  // invalidated as a write to it does (one new generation, its lists deleted, one announcement), then each of
  // its lists is read once: one invalidation per list was about a third of what the load generator and Redis
  // spent per miss, on the cores the server shares (bench/README.md, sixth pass).
  const cache = createRedisTaskListCache(new Redis(redisUrl, { keyPrefix: prefix, enableAutoPipelining: true }), 3600)
  const listsByDate = new Map<string, Array<Seeded['lists'][number]>>()
  for (const list of data.lists) {
    const ofDate = listsByDate.get(list.date) ?? []
    ofDate.push(list)
    listsByDate.set(list.date, ofDate)
  }
  const nextMissDate = rotate([...listsByDate.keys()])
  const MISS_LEAD = Math.min(200, Math.floor(data.lists.length / 4))
  const invalidated: Array<Seeded['lists'][number]> = []
  const invalidateAhead = (): void => {
    while (invalidated.length < MISS_LEAD) {
      const date = nextMissDate()
      const lists = listsByDate.get(date) ?? []
      cache.invalidate({ dates: [date], userIds: lists.map((list) => list.user.id) }).catch(() => {})
      invalidated.push(...lists)
    }
  }
  if (wanted('2')) {
    invalidateAhead()
    await new Promise((resolve) => setTimeout(resolve, 200))
    await logBesideBare(await measure('2 cache miss GET /tasks/task/:date', api, {
      url: api.url,
      setupRequest: (request) => {
        const { user, date } = invalidated.shift() as Seeded['lists'][number]
        invalidateAhead()
        request.path = `/tasks/task/${date}`
        request.headers = auth(user.token)
        return request
      }
    }))
  }

  // The writes' requests too: rebuilding every request (a new body, headers and path) cost the load generator
  // ~70 µs a write, on the cores the server shares (bench/README.md, ninth pass). Each client has its own share
  // (n % connections), and every body carries its client's number, so no write repeats an earlier one: an update
  // that changes nothing would be a cheaper request than the scenario means to measure.
  if (wanted('3')) {
    // Each client creates a task on every date, for users taken from its own place in their rotation.
    const creates = (n: number): autocannon.Request[] => data.dates.map((date, i) => ({
      method: 'POST' as const,
      path: '/tasks/create-task',
      headers: auth((data.users[(n + i) % data.users.length] as Seeded['users'][number]).token),
      body: JSON.stringify({ task_name: `bench-created ${n}-${i}`, priority: 'MEDIUM', date })
    }))
    await logBesideBare(await measure('3 write POST /tasks/create-task', api, { url: api.url, setupClient: ownRequests(creates) }))
  }

  if (wanted('4')) {
    // Each client updates its own share of the 20,000 tasks (no two clients wait on one row), scattered over
    // users and dates, each task twice per round with two descriptions, so every update changes something.
    const owned = data.users.flatMap((user) => user.taskIds.map((id) => ({ user, id })))
      .sort((a, b) => (a.id * 7919) % 10007 - (b.id * 7919) % 10007)
    const updates = (n: number): autocannon.Request[] => {
      const mine = owned.filter((_, i) => i % connections === n % connections)
      return ['a', 'b'].flatMap((round) => mine.map(({ user, id }) => ({
        method: 'PUT' as const,
        path: `/tasks/update-task/${id}`,
        headers: auth(user.token),
        body: JSON.stringify({ description: `updated ${n}${round}` })
      })))
    }
    await logBesideBare(await measure('4 write PUT /tasks/update-task/:id', api, { url: api.url, setupClient: ownRequests(updates) }))
  }

  const argon2PerS = wanted('5') ? await rawArgon2(smoke ? 1 : durationS) : Number.NaN
  if (wanted('5')) console.error(`  raw argon2id verify: ${argon2PerS.toFixed(1)}/s (UV_THREADPOOL_SIZE=${threadpool})`)
  const nextUser = rotate(data.users)
  const loginLoad: Load = {
    url: api.url,
    method: 'POST',
    setupRequest: (request) => {
      request.body = JSON.stringify({ username: nextUser().username, password: PASSWORD })
      request.path = '/users/login'
      request.method = 'POST'
      return request
    }
  }
  let argon2Mean = argon2PerS
  if (wanted('5')) {
    const login = await measure('5 login POST /users/login', api, loginLoad)
    // Measured again after, and averaged: other load on the host drifts over the 30 s this takes.
    const after = await rawArgon2(smoke ? 1 : durationS)
    argon2Mean = (argon2PerS + after) / 2
    console.error(`  raw argon2id verify after: ${after.toFixed(1)}/s`)
    login.ratio = login.reqPerSec / argon2Mean
    log(login)
  }

  // The event loop during a login storm: cached reads on 10 connections alongside 50 logging in.
  if (wanted('5b')) {
    const rss = sampleRss(api.pid)
    const [, storm] = await Promise.all([
      fire(loginLoad, durationS),
      fire({ ...cachedRead, connections: Math.min(10, connections) }, durationS)
    ])
    log(summarise('5b cached read during login storm', storm, rss.stop()))
  }

  if (wanted('6')) {
    // The login storm since the last yardstick: measured again first.
    bareLast = await measureBare()
    await logBesideBare(await measure('6 rate limited GET /api/check-limiter (429)', api, { url: api.url, path: '/api/check-limiter' }, [429]))
  }

  // The last yardstick as a row of its own (the first is one too).
  rows.push({ ...bareLast, name: 'bare fastify, at the end' })
  // Put the data back as it was (created tasks gone, lists invalidated) so the next run measures the same thing.
  await restore(data, cache)
  return { rows, argon2PerS: argon2Mean }

  async function restore (seeded: Seeded, listCache: ReturnType<typeof createRedisTaskListCache>): Promise<void> {
    // Responses still in flight when autocannon stopped may commit a little later: let them land first.
    await new Promise((resolve) => setTimeout(resolve, 1000))
    // One statement, one snapshot: each created task goes with its audit rows.
    await sqlAdmin.bench`
      with created as (select id from tasks where task_name like 'bench-created %'),
      audit as (delete from task_audit where task_id in (select id from created))
      delete from tasks where id in (select id from created)`
    await listCache.invalidate({ dates: seeded.dates, userIds: seeded.users.map((u) => u.id) })
  }
}

function judge (rows: Measured[]): void {
  const by = (prefix: string): Measured | undefined => rows.find((r) => r.name.startsWith(prefix))
  const clean = (m: Measured): boolean => m.errors === 0 && m.non2xx === 0
  const set = (prefix: string, target: string, pass: (m: Measured) => boolean): void => {
    const m = by(prefix)
    if (m !== undefined) { m.target = target; m.pass = pass(m) }
  }
  set('bare', 'no errors', clean)
  set('1 ', 'ratio >= 0.40, p99 <= 25 ms', (m) => clean(m) && (m.ratio ?? 0) >= 0.40 && m.p99 <= 25)
  set('2 ', 'ratio >= 0.10', (m) => clean(m) && (m.ratio ?? 0) >= 0.10)
  set('3 ', 'ratio >= 0.08', (m) => clean(m) && (m.ratio ?? 0) >= 0.08)
  set('4 ', 'ratio >= 0.08', (m) => clean(m) && (m.ratio ?? 0) >= 0.08)
  set('5 ', '>= 0.90 x raw argon2 verify/s', (m) => clean(m) && (m.ratio ?? 0) >= 0.90)
  set('5b', 'p99 < 50 ms', (m) => clean(m) && m.p99 < 50)
  set('6 ', 'only 429s (after the first few 200s)', clean)
}

function table (rows: Measured[]): string {
  const header = ['scenario', 'req/s', 'ratio', 'to bare', 'p50 ms', 'p99 ms', 'errors', 'non-2xx', 'RSS MB', 'CPU µs/req', 'target', 'ok']
  const lines = rows.map((r) => [
    r.name, r.reqPerSec.toFixed(0), r.ratio === undefined ? '-' : r.ratio.toFixed(2),
    r.bareBeside === undefined ? '-' : r.bareBeside.map((bare) => bare.toFixed(0)).join('/'), String(r.p50), String(r.p99),
    String(r.errors), String(r.non2xx), r.rssPeakMb.toFixed(0), r.cpu === undefined ? '-' : (r.cpu.server / r.reqPerSec * 1e6).toFixed(0),
    r.target ?? '', r.pass === undefined ? '' : r.pass ? 'yes' : 'NO'
  ])
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => (l[i] as string).length)))
  const left = (i: number): boolean => i === 0 || i === 10
  const fmt = (cells: string[]): string => '| ' + cells.map((c, i) => left(i) ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number)).join(' | ') + ' |'
  return [fmt(header), '|' + widths.map((w, i) => (left(i) ? '-' : '') + '-'.repeat(w + 1) + (left(i) ? '' : ':')).join('|') + '|', ...lines.map(fmt)].join('\n')
}

// One admin connection for creating and dropping the bench database; `bench` is the connection to it.
const sqlAdmin: { root: postgres.Sql, bench: postgres.Sql } = { root: postgres(adminUrl, { max: 1, onnotice: () => {} }), bench: undefined as unknown as postgres.Sql }

async function main (): Promise<void> {
  if (!args.has('--no-build')) execFileSync('npm', ['run', '--silent', 'build'], { cwd: root, stdio: 'inherit' })
  const id = randomBytes(4).toString('hex')
  const dbName = `bench_${id}`
  const prefix = `bench:${id}:`
  const dbUrl = new URL(adminUrl)
  dbUrl.pathname = `/${dbName}`
  const redis = new Redis(redisUrl)
  // Redis on this host: its CPU share is reported next to the server's (NaN when it runs elsewhere).
  redisPid = Number(/process_id:(\d+)/.exec(await redis.info('server'))?.[1] ?? Number.NaN)
  const children: Child[] = []
  let failed = false
  await sqlAdmin.root.unsafe(`create database "${dbName}"`)
  try {
    const limits = String(1_000_000_000)
    const profileDir = `${root}bench/profiles`
    if (profile) mkdirSync(profileDir, { recursive: true })
    const inspectPort = await freePort()
    const api = await startNode([
      ...serverNodeFlags,
      // Only for settledMemory's full collection at the end of each run; no session is attached while measuring.
      `--inspect=127.0.0.1:${inspectPort}`,
      // perf names JIT-compiled functions from the map file this writes to /tmp/perf-<pid>.map.
      ...(perf ? ['--perf-basic-prof-only-functions'] : profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []),
      // BENCH_SERVER_ENTRY: another build of the API (e.g. an older commit's dist/) measured by this same suite.
      process.env.BENCH_SERVER_ENTRY ?? `${root}dist/src/server.js`
    ], {
      NODE_ENV: 'production',
      // Access logs at info would measure stdout, not the API: the bench runs at warn, as the README says.
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
      JWT_SECRET: randomBytes(32).toString('hex'),
      DATABASE_URL: dbUrl.toString(),
      REDIS_URL: redisUrl,
      REDIS_KEY_PREFIX: prefix,
      ...serverRuntime,
      // Raised so they do not cap the run; the limiter still counts every request in Redis.
      RATE_LIMIT_MAX: limits,
      RATE_LIMIT_TASK_LIST_MAX: limits,
      RATE_LIMIT_LOGIN_MAX: limits,
      RATE_LIMIT_LOGIN_USERNAME_MAX: limits,
      // Left at its default (5/min) on purpose: scenario 6 is a client over its limit.
      RATE_LIMIT_CHECK_MAX: '5'
    }, '/api/health/db', 'API server')
    children.push(api)
    const bare = await startNode([fileURLToPath(new URL('bare-server.mjs', import.meta.url))], {}, '/', 'bare server')
    children.push(bare)

    sqlAdmin.bench = postgres(dbUrl.toString(), { max: 2, onnotice: () => {} })
    console.error(`seeding ${size.users} users, ${size.tasks} tasks over ${size.days} dates into ${dbName}`)
    const data = await seed(sqlAdmin.bench, api.url, size)
    const explain = await explainDayLists(sqlAdmin.bench, data)
    console.error(explain.user.join('\n'))
    const rssStartMb = rssMb(api.pid)

    const machine = {
      cpus: cpus().length,
      model: cpus()[0]?.model ?? 'unknown',
      memoryGb: Math.round(totalmem() / 2 ** 30),
      node: process.version,
      loadAverageBefore: loadavg().map((l) => Number(l.toFixed(2)))
    }
    const results: Array<{ run: number, rows: Measured[], argon2PerS: number, settled: SettledMemory, loadAverage: number[] }> = []
    for (let run = 1; run <= runs; run++) {
      console.error(`run ${run}/${runs}: -c ${connections}, ${durationS} s after ${warmupS} s warm-up`)
      const { rows, argon2PerS } = await suite(api, bare.url, bare, data, redis, prefix)
      const settled = await settledMemory(inspectPort)
      // A smoke's figures (1.5 s at -c 10) mean nothing against the targets: only its errors count.
      if (!smoke) judge(rows)
      results.push({ run, rows, argon2PerS, settled, loadAverage: loadavg().map((l) => Number(l.toFixed(2))) })
      console.log(`\nrun ${run} (raw argon2id verify ${argon2PerS.toFixed(1)}/s; server after a full GC: RSS ${settled.rssMb.toFixed(0)} MB, heap ${settled.heapUsedMb.toFixed(1)} MB; load ${loadavg().map((l) => l.toFixed(2)).join(' ')})`)
      console.log(table(rows))
    }

    const peak = Math.max(...results.flatMap((r) => r.rows.filter((row) => !row.name.startsWith('bare')).map((row) => row.rssPeakMb)))
    const first = results[0]
    const last = results[results.length - 1]
    // Growth between two identical runs beyond noise (10% or 10 MB) would mean something is retained per request.
    // Measured after a full collection (settledMemory): garbage not yet collected is no growth.
    const growthMb = first !== undefined && last !== undefined ? last.settled.rssMb - first.settled.rssMb : 0
    const heapGrowthMb = first !== undefined && last !== undefined ? last.settled.heapUsedMb - first.settled.heapUsedMb : 0
    const memory = {
      rssStartMb,
      peakMb: peak,
      growthMb,
      heapGrowthMb,
      pass: peak < 200 && (runs < 2 || growthMb <= Math.max(10, 0.1 * (first?.settled.rssMb ?? 0)))
    }
    console.log(`\nserver RSS: ${rssStartMb.toFixed(0)} MB after seeding, peak ${peak.toFixed(0)} MB (< 200), growth run 1 -> ${runs} after a full GC: RSS ${growthMb.toFixed(1)} MB, heap ${heapGrowthMb.toFixed(1)} MB -> ${memory.pass ? 'ok' : 'NO'}`)

    const allRows = results.flatMap((r) => r.rows)
    const errorsSeen = allRows.filter((r) => r.errors > 0 || r.non2xx > 0)
    if (smoke) {
      failed = errorsSeen.length > 0
      console.log(failed ? `smoke FAILED: ${errorsSeen.map((r) => r.name).join(', ')}` : 'smoke ok: every scenario completed without errors')
    } else if (!profile) {
      const targetsMet = (last?.rows.every((r) => r.pass !== false) ?? false) && memory.pass
      console.log(targetsMet ? 'all targets met' : 'some targets NOT met (see the ok column)')
      mkdirSync(`${root}bench/results`, { recursive: true })
      const file = `${root}bench/results/${new Date().toISOString().slice(0, 19).replace(/:/g, '-')}.json`
      writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), machine, settings: { connections, durationS, warmupS, serverRuntime, serverNodeFlags, size }, results, memory, targetsMet, explain }, null, 2) + '\n')
      console.log(`results: ${file}`)
    } else {
      console.log(perf
        ? 'perf samples in bench/profiles: perf report -i bench/profiles/<scenario>.perf.data --no-children --sort sym'
        : `profile written to bench/profiles when the server exits: ${readdirSync(profileDir).length} file(s) there before`)
    }
  } finally {
    for (const child of children.reverse()) await child.stop()
    redis.disconnect()
    await sqlAdmin.bench?.end({ timeout: 5 })
    await sqlAdmin.root.unsafe(`drop database if exists "${dbName}" with (force)`)
    await sqlAdmin.root.end({ timeout: 5 })
    await deletePrefix(prefix)
  }
  if (failed) process.exitCode = 1
}

/**
 * EXPLAIN ANALYZE of the service's own list queries (their SQL from the same builder), as generic plans:
 * what a prepared statement ends up running after its first executions.
 */
async function explainDayLists (sql: postgres.Sql, data: Seeded): Promise<{ user: string[], admin: string[] }> {
  const queries = dayListQueries(drizzle(sql, { schema }) as never)
  const sample = data.lists[0] as Seeded['lists'][number]
  return await sql.begin(async (tx) => {
    await tx.unsafe('set local plan_cache_mode = force_generic_plan')
    const plan = async (name: string, query: { sql: string, params: unknown[] }, values: Record<string, string | number>): Promise<string[]> => {
      await tx.unsafe(`prepare explain_${name} as ${query.sql}`)
      // Placeholders take the sample's values; other parameters (the timestamp format) are passed as they are.
      const args = query.params.map((param) => {
        const placeholder = (param as { name?: string }).name
        const value = placeholder !== undefined ? values[placeholder] : param
        return typeof value === 'number' ? String(value) : `'${String(value).replace(/'/g, "''")}'`
      })
      const rows = await tx.unsafe(`explain (analyze, buffers, costs off) execute explain_${name}(${args.join(', ')})`)
      return rows.map((row) => String(row['QUERY PLAN']))
    }
    return {
      user: await plan('user', queries.user.toSQL(), { date: sample.date, user: sample.user.id }),
      admin: await plan('admin', queries.admin.toSQL(), { date: sample.date })
    }
  })
}

async function deletePrefix (prefix: string): Promise<void> {
  const redis = new Redis(redisUrl)
  for await (const keys of scanKeys(redis, `${prefix}*`)) await redis.del(...keys)
  redis.disconnect()
}

main().then(() => { process.exit() }, (error: unknown) => {
  console.error(error)
  process.exit(1)
})
