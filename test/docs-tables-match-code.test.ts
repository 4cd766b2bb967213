import t from 'tap'
import { readFileSync, readdirSync } from 'node:fs'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { CANCEL_REASONS, ErrorTable } from '../lib/index.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const read = (path: string): string => readFileSync(join(root, path), 'utf8')

/** The first-column codes of the markdown table that follows `heading`. */
function tableCodes (doc: string, heading: string): string[] {
  const start = doc.indexOf(heading)
  if (start === -1) throw new Error(`no heading ${heading}`)
  const codes: string[] = []
  let inTable = false
  for (const line of doc.slice(start).split('\n').slice(1)) {
    if (line.startsWith('|')) {
      inTable = true
      const cell = /^\| `([A-Z0-9_]+)` \|/.exec(line)
      if (cell?.[1] !== undefined) codes.push(cell[1])
    } else if (inTable) break
  }
  return codes
}

t.test('every code of the error table is documented in docs/protocol.md or the README', async (t) => {
  const docs = read('docs/protocol.md') + read('README.md')
  for (const code of Object.keys(ErrorTable)) t.match(docs, new RegExp(`\\b${code}\\b`), `${code} is documented`)
})

t.test('the `cancelled` reasons in docs/protocol.md are exactly the ones the code sends', async (t) => {
  const row = read('docs/protocol.md').split('\n').find((l) => l.startsWith('| `cancelled` |')) ?? ''
  const documented = [...row.matchAll(/`([a-z_]+)` \(/g)].map((m) => m[1])
  t.same(documented, [...CANCEL_REASONS])
})

t.test('the bridge error table in docs/bridge.md lists exactly the codes Node and Python produce', async (t) => {
  const node = new Set<string>()
  for (const file of readdirSync(join(root, 'lib', 'python'))) {
    const source = read(join('lib', 'python', file))
    for (const m of source.matchAll(/RunError\('([A-Z_]+)'/g)) node.add(m[1] as string)
    for (const m of source.matchAll(/#unreadable\(.*?, '([A-Z_]+)'/g)) node.add(m[1] as string)
  }
  const literal = /^ErrorCode = Literal\[([^\]]+)\]/m.exec(read('python/autogen_stream_bridge/protocol.py'))?.[1] ?? ''
  const python = new Set([...literal.matchAll(/"([A-Z_]+)"/g)].map((m) => m[1] as string))
  t.ok(node.size >= 5 && python.size >= 3, 'found the codes in the sources')
  const documented = tableCodes(read('docs/bridge.md'), '### Errors')
  t.same([...documented].sort(), [...new Set([...node, ...python])].sort())
})
