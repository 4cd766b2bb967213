// node benchmarks/profile-summary.js file.cpuprofile: self time by function,
// the top 25. Used once to find what dominates the hot path (see
// benchmarks/profile-notes.md).
import { readFileSync } from 'node:fs'

const prof = JSON.parse(readFileSync(process.argv[2], 'utf8'))
const self = new Map()
const byId = new Map(prof.nodes.map((n) => [n.id, n]))
const dt = prof.timeDeltas
let total = 0
prof.samples.forEach((id, i) => {
  const n = byId.get(id)
  const f = n.callFrame
  const key = `${f.functionName || '(anonymous)'} ${f.url.split('/').slice(-2).join('/')}:${f.lineNumber + 1}`
  self.set(key, (self.get(key) ?? 0) + (dt[i] ?? 0))
  total += dt[i] ?? 0
})
const rows = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 25)
for (const [key, us] of rows) console.log(`${(100 * us / total).toFixed(1).padStart(5)}%  ${key}`)
