import argon2 from 'argon2'

// OWASP's argon2id parameters: 19 MiB, 2 iterations, 1 lane. Each hash holds its memory on a libuv thread.
const OPTIONS = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const

export async function hashPassword (password: string): Promise<string> {
  return await argon2.hash(password, OPTIONS)
}

export async function verifyPassword (hash: string, password: string): Promise<boolean> {
  try {
    return await argon2.verify(hash, password)
  } catch {
    return false
  }
}

let dummyHash: Promise<string> | undefined
/** A hash to verify against when the user does not exist, so an unknown name costs what a wrong password does. */
export async function timingDummyHash (): Promise<string> {
  dummyHash ??= hashPassword('not-a-real-password-just-for-timing')
  return await dummyHash
}
