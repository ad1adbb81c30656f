import WebSocket from 'ws'

/** What the server holds once V8 has collected everything it can: the figures a leak shows in. */
export interface SettledMemory {
  rssMb: number
  heapUsedMb: number
  externalMb: number
}

/**
 * Asks the server's inspector (started with --inspect=127.0.0.1:<port>) for a full garbage collection, then for
 * process.memoryUsage(). RSS sampled at an arbitrary moment holds whatever garbage V8 has not collected yet:
 * between two identical runs it moved by ±30 MB (bench/README.md, tenth pass), more than any leak worth finding.
 */
export async function settledMemory (inspectPort: number): Promise<SettledMemory> {
  const targets = await (await fetch(`http://127.0.0.1:${inspectPort}/json/list`)).json() as Array<{ webSocketDebuggerUrl: string }>
  const url = targets[0]?.webSocketDebuggerUrl
  if (url === undefined) throw new Error('the server has no inspector target')
  const socket = new WebSocket(url)
  await new Promise((resolve, reject) => { socket.once('open', resolve).once('error', reject) })
  const pending = new Map<number, (result: unknown) => void>()
  socket.on('message', (data) => {
    const message = JSON.parse(String(data)) as { id?: number, result?: unknown }
    if (message.id === undefined) return
    pending.get(message.id)?.(message.result)
    pending.delete(message.id)
  })
  let lastId = 0
  const call = async (method: string, params: object = {}): Promise<unknown> => await new Promise((resolve) => {
    pending.set(++lastId, resolve)
    socket.send(JSON.stringify({ id: lastId, method, params }))
  })
  try {
    await call('HeapProfiler.collectGarbage')
    const evaluated = await call('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true }) as
      { result: { value: string } }
    const usage = JSON.parse(evaluated.result.value) as NodeJS.MemoryUsage
    const mb = (bytes: number): number => bytes / 2 ** 20
    return { rssMb: mb(usage.rss), heapUsedMb: mb(usage.heapUsed), externalMb: mb(usage.external) }
  } finally {
    socket.close()
  }
}
