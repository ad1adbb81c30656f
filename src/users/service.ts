import { eq, sql } from 'drizzle-orm'
import type { Database } from '../db/client.js'
import { sqlState, UNIQUE_VIOLATION } from '../db/errors.js'
import { users, type UserRow } from '../db/schema.js'
import { conflict, forbidden } from '../errors.js'
import type { PasswordHasher } from './passwords.js'
import type { RegisterBody, Role, User } from './schemas.js'

// Serialises "is there an admin yet?" so two first-admin registrations cannot both succeed.
const ADMIN_BOOTSTRAP_LOCK_ID = 7_220_302

export function toUser (row: Pick<UserRow, 'id' | 'username' | 'role'>): User {
  return { id: row.id, username: row.username, role: row.role }
}

export async function findUser (db: Database, id: number): Promise<UserRow | undefined> {
  const [row] = await db.select().from(users).where(eq(users.id, id))
  return row
}

/**
 * Registers a user. An admin account needs an admin requester, except while no admin exists at all:
 * then the first one may register without a token.
 */
export async function registerUser (
  db: Database, passwords: PasswordHasher, input: RegisterBody, requester: { id: number } | null, signal?: AbortSignal
): Promise<User> {
  const role: Role = input.role ?? 'user'
  const passwordHash = await passwords.hash(input.password, signal)
  try {
    return await db.transaction(async (tx) => {
      if (role === 'admin') {
        const requesterRow = requester === null
          ? undefined
          : (await tx.select({ role: users.role }).from(users).where(eq(users.id, requester.id)))[0]
        if (requesterRow?.role !== 'admin') {
          await tx.execute(sql`select pg_advisory_xact_lock(${ADMIN_BOOTSTRAP_LOCK_ID})`)
          const [existingAdmin] = await tx.select({ id: users.id }).from(users).where(eq(users.role, 'admin')).limit(1)
          if (existingAdmin !== undefined) throw forbidden('Only an admin may create an admin account')
        }
      }
      const [row] = await tx.insert(users).values({ username: input.username, passwordHash, role })
        .returning({ id: users.id, username: users.username, role: users.role })
      return toUser(row as User)
    })
  } catch (error) {
    if (sqlState(error) === UNIQUE_VIOLATION) throw conflict('Username already exists')
    throw error
  }
}

function prepareUserByUsername (db: Database) {
  return db.select().from(users).where(eq(users.username, sql.placeholder('username'))).prepare('user_by_username')
}

// Built once per database: a login runs too rarely for V8 to optimise drizzle's query building, which took
// about a tenth of a login's event-loop time (bench/README.md, eleventh pass).
const preparedUserByUsername = new WeakMap<Database, ReturnType<typeof prepareUserByUsername>>()

function userByUsername (db: Database): ReturnType<typeof prepareUserByUsername> {
  let query = preparedUserByUsername.get(db)
  if (query === undefined) {
    query = prepareUserByUsername(db)
    preparedUserByUsername.set(db, query)
  }
  return query
}

/** The user whose credentials these are, or null; an unknown name takes as long as a wrong password. */
export async function verifyCredentials (
  db: Database, passwords: PasswordHasher, username: string, password: string, signal?: AbortSignal
): Promise<UserRow | null> {
  const [row] = await userByUsername(db).execute({ username })
  const matches = await passwords.verify(row?.passwordHash ?? await passwords.dummyHash(), password, signal)
  return row !== undefined && matches ? row : null
}

/** Creates the configured first admin if that username is free; never overwrites an existing account. */
export async function ensureBootstrapAdmin (
  db: Database, passwords: PasswordHasher, admin: { username: string, password: string }
): Promise<boolean> {
  const [existing] = await db.select({ id: users.id }).from(users).where(eq(users.username, admin.username))
  if (existing !== undefined) return false
  const passwordHash = await passwords.hash(admin.password)
  const inserted = await db.insert(users).values({ username: admin.username, passwordHash, role: 'admin' })
    .onConflictDoNothing().returning({ id: users.id })
  return inserted.length > 0
}

/**
 * Changes a user's password after checking the current one, and bumps their token version in the same
 * statement: every token issued before is refused from then on. Returns the new token version, or null
 * when the current password is wrong.
 */
export async function changePassword (
  db: Database, passwords: PasswordHasher, userId: number, currentPassword: string, newPassword: string, signal?: AbortSignal
): Promise<number | null> {
  const [row] = await db.select({ passwordHash: users.passwordHash }).from(users).where(eq(users.id, userId))
  if (row === undefined || !await passwords.verify(row.passwordHash, currentPassword, signal)) return null
  const passwordHash = await passwords.hash(newPassword, signal)
  const [updated] = await db.update(users)
    .set({ passwordHash, tokenVersion: sql`${users.tokenVersion} + 1`, updatedAt: sql`now()` })
    .where(eq(users.id, userId))
    .returning({ tokenVersion: users.tokenVersion })
  return updated?.tokenVersion ?? null
}
