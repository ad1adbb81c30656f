// Raw argon2id verify throughput with the API's parameters, in a process of its own so UV_THREADPOOL_SIZE
// is the server's: the ceiling the login scenario is measured against. Prints one JSON line.
import argon2 from 'argon2'

const durationMs = Number(process.env.DURATION_MS ?? 10_000)
const concurrency = Number(process.env.CONCURRENCY ?? 50)
const options = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 }
const hash = await argon2.hash('bench-password', options)

// Warm-up: let the thread pool start and the first allocations happen outside the measurement.
await Promise.all(Array.from({ length: concurrency }, () => argon2.verify(hash, 'bench-password')))

let done = 0
const deadline = performance.now() + durationMs
const started = performance.now()
async function worker () {
  while (performance.now() < deadline) {
    if (!await argon2.verify(hash, 'bench-password')) throw new Error('verify failed')
    done++
  }
}
await Promise.all(Array.from({ length: concurrency }, worker))
const elapsedS = (performance.now() - started) / 1000
console.log(JSON.stringify({ verifies: done, perSecond: done / elapsedS, threadpool: process.env.UV_THREADPOOL_SIZE ?? '4' }))
