import { spawn, type ChildProcess } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'

export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => { resolve(typeof address === 'object' && address !== null ? address.port : 0) })
    })
  })
}

/** Resident memory of a process in MB, from /proc (Linux); NaN where /proc is unavailable. */
export function rssMb (pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return match?.[1] !== undefined ? Number(match[1]) / 1024 : Number.NaN
  } catch {
    return Number.NaN
  }
}

/** Samples a process's RSS until stopped; resolves to the highest value seen. */
export function sampleRss (pid: number, everyMs = 200): { stop: () => number } {
  let peak = rssMb(pid)
  const timer = setInterval(() => { peak = Math.max(peak, rssMb(pid)) }, everyMs)
  return { stop: () => { clearInterval(timer); return Math.max(peak, rssMb(pid)) } }
}

export interface Child {
  pid: number
  url: string
  stop: () => Promise<number | null>
}

/** Starts `node <args>` listening on a free port and waits until `readyPath` answers 200. */
export async function startNode (args: string[], env: Record<string, string>, readyPath: string, name: string): Promise<Child> {
  const port = await freePort()
  const child: ChildProcess = spawn(process.execPath, args, {
    env: { ...process.env, ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'inherit', 'inherit']
  })
  let exited: number | null | undefined
  const exit = new Promise<number | null>((resolve) => { child.once('exit', (code) => { exited = code; resolve(code) }) })
  const url = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 120_000
  for (;;) {
    if (exited !== undefined) throw new Error(`${name} exited with ${String(exited)} before it was ready`)
    if (Date.now() > deadline) { child.kill('SIGKILL'); throw new Error(`${name} not ready within 120 s`) }
    const ok = await fetch(url + readyPath).then((r) => r.ok, () => false)
    if (ok) break
    await sleep(100)
  }
  return {
    pid: child.pid as number,
    url,
    stop: async () => {
      if (exited === undefined) child.kill('SIGTERM')
      return await exit
    }
  }
}

/**
 * CPU seconds (user + system) a process has used so far, from /proc; NaN where unavailable. With `thread`, those
 * of one of its threads only (a process's main thread has the process's id: for Node, the event loop).
 */
export function cpuSeconds (pid: number, thread?: number): number {
  try {
    // Fields after the command name (which may contain spaces): utime and stime are the 12th and 13th.
    const fields = readFileSync(thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return Number.NaN
  }
}

/** CPU seconds of every PostgreSQL process on this host (the server and its backends), by pid; empty elsewhere. */
export function postgresCpuSeconds (): Map<number, number> {
  const seconds = new Map<number, number>()
  let pids: string[] = []
  try { pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name)) } catch {}
  for (const pid of pids) {
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'postgres') seconds.set(Number(pid), cpuSeconds(Number(pid)))
    } catch {}
  }
  return seconds
}

/** CPU used between two readings; a process that started in between counts from zero. */
export function diffCpu (before: Map<number, number>, after: Map<number, number>): number {
  let used = 0
  for (const [pid, seconds] of after) used += seconds - (before.get(pid) ?? 0)
  return used
}
