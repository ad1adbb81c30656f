// Summarises a V8 .cpuprofile (node --cpu-prof): self time by package and by function, heaviest first.
// Usage: node bench/profile-summary.mjs bench/profiles/<file>.cpuprofile [top] [function to show callers of]
// PROFILE_FROM_S / PROFILE_TO_S restrict it to a window (seconds since the profile started), e.g. the measured run.
import { readFileSync } from 'node:fs'

const [file, topArg] = process.argv.slice(2)
const top = Number(topArg ?? 25)
const profile = JSON.parse(readFileSync(file, 'utf8'))
const self = new Map(profile.nodes.map((node) => [node.id, 0]))
const deltas = profile.timeDeltas
const from = Number(process.env.PROFILE_FROM_S ?? 0) * 1e6
const to = Number(process.env.PROFILE_TO_S ?? Infinity) * 1e6
let at = 0
for (let i = 0; i < profile.samples.length; i++) {
  at += deltas[i] ?? 0
  if (at >= from && at <= to) self.set(profile.samples[i], self.get(profile.samples[i]) + (deltas[i] ?? 0))
}
const total = [...self.values()].reduce((a, b) => a + b, 0)

function packageOf (url) {
  if (url === '') return '(native/vm)'
  const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (match) return match[1]
  if (url.startsWith('node:')) return 'node core'
  return url.includes('/dist/') ? 'app (dist)' : url
}
const byPackage = new Map()
const byFunction = new Map()
for (const node of profile.nodes) {
  const time = self.get(node.id)
  const { functionName, url, lineNumber } = node.callFrame
  const pkg = packageOf(url)
  byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + time)
  const key = `${functionName || '(anonymous)'} ${url.replace(/.*node_modules\//, '').replace(/.*\/dist\//, 'dist/')}:${lineNumber + 1}`
  byFunction.set(key, (byFunction.get(key) ?? 0) + time)
}
const print = (title, map) => {
  console.log(`\n${title}`)
  for (const [name, time] of [...map].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${(100 * time / total).toFixed(1).padStart(5)}%  ${name}`)
  }
}
console.log(`${file}: ${(total / 1e6).toFixed(1)} s sampled`)
print('self time by package', byPackage)
print('self time by function', byFunction)

// With a third argument, the call paths (5 frames up) that lead to the named function, heaviest first.
const focus = process.argv[4]
if (focus !== undefined) {
  const parent = new Map()
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node)
  const paths = new Map()
  for (const node of profile.nodes) {
    if (node.callFrame.functionName !== focus) continue
    const frames = []
    for (let p = parent.get(node.id); p !== undefined && frames.length < 5; p = parent.get(p.id)) {
      frames.push(`${p.callFrame.functionName || '(anon)'}@${p.callFrame.url.replace(/.*node_modules\//, '').replace(/.*\/dist\//, 'dist/')}:${p.callFrame.lineNumber + 1}`)
    }
    const key = frames.join(' < ')
    paths.set(key, (paths.get(key) ?? 0) + self.get(node.id))
  }
  console.log(`\ncallers of ${focus}`)
  for (const [path, time] of [...paths].sort((a, b) => b[1] - a[1]).slice(0, 8)) console.log(`${(100 * time / total).toFixed(1).padStart(5)}%  ${path}`)
}
