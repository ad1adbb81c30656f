import argon2 from 'argon2'
import type { Sql } from 'postgres'

export const PASSWORD = 'bench-password'

export interface SeededUser { id: number, username: string, token: string, taskIds: number[] }
export interface Seeded {
  users: SeededUser[]
  /** Every (user, date) whose list is non-empty: what the read scenarios rotate over. */
  lists: Array<{ user: SeededUser, date: string }>
  dates: string[]
  taskCount: number
}

/** Deterministic, so two runs (and two machines) seed the same data. */
function mulberry32 (seed: number): () => number {
  let a = seed
  return () => {
    a = (a + 0x6D2B79F5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const PRIORITIES = ['LOW', 'MEDIUM', 'HIGH', 'CRITICAL'] as const

/**
 * Users (one precomputed argon2id hash with the API's parameters, so logins cost what real ones do) and
 * tasks straight into the tables: `users` users, about `tasks` tasks over `days` dates, 10-50 per user per
 * date. Tokens come from the API's own login.
 */
export async function seed (sql: Sql, baseUrl: string, size: { users: number, tasks: number, days: number }): Promise<Seeded> {
  const random = mulberry32(42)
  const hash = await argon2.hash(PASSWORD, { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 })
  const userRows = Array.from({ length: size.users }, (_, i) => ({ username: `bench_user_${i + 1}`, password_hash: hash, role: 'user' }))
  const inserted = await sql<Array<{ id: number, username: string }>>`
    insert into users ${sql(userRows)} returning id, username`
  const users: SeededUser[] = inserted.map((row) => ({ id: row.id, username: row.username, token: '', taskIds: [] }))

  const start = Date.UTC(2025, 0, 1)
  const dates = Array.from({ length: size.days }, (_, i) => new Date(start + i * 86_400_000).toISOString().slice(0, 10))
  const taken = new Set<string>()
  const rows: Array<Record<string, unknown>> = []
  for (let i = 0; rows.length < size.tasks && taken.size < users.length * dates.length; i++) {
    const user = users[i % users.length] as SeededUser
    const date = dates[Math.floor(random() * dates.length)] as string
    if (taken.has(`${user.id}:${date}`)) continue
    taken.add(`${user.id}:${date}`)
    const count = Math.min(10 + Math.floor(random() * 41), size.tasks - rows.length)
    for (let n = 0; n < count; n++) {
      rows.push({
        task_name: `Task ${n + 1} of ${user.username} for ${date}`,
        description: random() < 0.7 ? `Details for task ${n + 1}: follow up with the team and update the tracker` : null,
        priority: PRIORITIES[Math.floor(random() * PRIORITIES.length)],
        date,
        assigned_user: user.id,
        created_by: user.id
      })
    }
  }
  for (let i = 0; i < rows.length; i += 5000) {
    const batch = await sql<Array<{ id: number, created_by: number }>>`
      insert into tasks ${sql(rows.slice(i, i + 5000))} returning id, created_by`
    for (const row of batch) users.find((u) => u.id === row.created_by)?.taskIds.push(row.id)
  }
  await sql`analyze tasks`

  for (const user of users) {
    const response = await fetch(`${baseUrl}/users/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: user.username, password: PASSWORD })
    })
    if (response.status !== 200) throw new Error(`login ${user.username}: ${response.status} ${await response.text()}`)
    user.token = ((await response.json()) as { access_token: string }).access_token
  }
  const byId = new Map(users.map((u) => [u.id, u]))
  const lists = [...taken].map((key) => {
    const [id, date] = key.split(':')
    return { user: byId.get(Number(id)) as SeededUser, date: date as string }
  })
  return { users, lists, dates, taskCount: rows.length }
}
