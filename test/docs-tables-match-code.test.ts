import t from 'tap'
import { readFileSync } from 'node:fs'
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

t.test('every code of the error table is in a table of docs/protocol.md, docs/bridge.md or docs/ag-ui.md, and every documented code is in the error table', async (t) => {
  const protocol = read('docs/protocol.md')
  const bridge = read('docs/bridge.md')
  const documented = new Set([
    ...tableCodes(protocol, '### Refused before the upgrade'),
    ...tableCodes(protocol, '## Server to client: connection errors'),
    ...tableCodes(protocol, '### Run error codes'),
    ...[...protocol.matchAll(/^\| \d{4} \| `(AGS_[A-Z_]+)` \|/gm)].map((m) => m[1] as string), // close codes
    ...tableCodes(bridge, '### Errors'),
    ...tableCodes(read('docs/ag-ui.md'), '## Errors')
  ])
  const table = Object.keys(ErrorTable)
  // Registration and the answer before the upgrade are described in the README and in protocol.md's prose.
  const prose = new Set(['AGS_INVALID_OPTION', 'AGS_ALREADY_REGISTERED', 'AGS_RUN_CANCELLED'])
  for (const code of table) {
    if (prose.has(code)) t.match(protocol + read('README.md'), new RegExp(`\\b${code}\\b`), `${code} is documented`)
    else t.ok(documented.has(code), `${code} is in a docs table`)
  }
  for (const code of documented) t.ok(Object.hasOwn(ErrorTable, code), `documented ${code} is in the error table`)
})

t.test('the `cancelled` reasons in docs/protocol.md are exactly the ones the code sends', async (t) => {
  const row = read('docs/protocol.md').split('\n').find((l) => l.startsWith('| `cancelled` |')) ?? ''
  const documented = [...row.matchAll(/`([a-z_]+)` \(/g)].map((m) => m[1])
  t.same(documented, [...CANCEL_REASONS])
})

t.test('every code the Python worker sends is in the error table and in the bridge docs', async (t) => {
  const literal = /^ErrorCode = Literal\[([^\]]+)\]/m.exec(read('python/autogen_stream_bridge/protocol.py'))?.[1] ?? ''
  const python = [...literal.matchAll(/"([A-Z_]+)"/g)].map((m) => m[1] as string)
  t.ok(python.length >= 8, `found ${python.length} codes in protocol.py`)
  const bridge = tableCodes(read('docs/bridge.md'), '### Errors')
  for (const code of python) {
    t.ok(Object.hasOwn(ErrorTable, code), `${code} is in the error table`)
    t.ok(bridge.includes(code), `${code} is in docs/bridge.md`)
  }
})

t.test('the README options table lists exactly the options the plugin takes', async (t) => {
  const { OPTION_NAMES } = await import('../lib/options.js')
  const readme = read('README.md')
  const table = readme.slice(readme.indexOf('### Options'))
  const rows = table.split('\n').slice(2).filter((l) => l.startsWith('| `'))
  const documented = rows.flatMap((row) => [...(row.split('|')[1] ?? '').matchAll(/`([A-Za-z]+)`/g)].map((m) => m[1] as string))
  t.same([...documented].sort(), Object.keys(OPTION_NAMES).sort())
})

t.test("the README options table's defaults are the ones normalizeOptions() applies", async (t) => {
  const { DEFAULTS, OPTION_NAMES, normalizeOptions } = await import('../lib/options.js')
  // How the table writes a value: numbers plain, strings quoted, objects as `{ key: value, ... }`.
  const render = (value: unknown): string => typeof value === 'string'
    ? `'${value}'`
    : typeof value === 'object' && value !== null
      ? `{ ${Object.entries(value).map(([k, v]) => `${k}: ${render(v)}`).join(', ')} }`
      : String(value)
  const readme = read('README.md')
  const table = readme.slice(readme.indexOf('### Options'))
  const rows = table.split('\n').slice(2).filter((l) => l.startsWith('| `'))
  const documented = new Map<string, string>()
  for (const row of rows) {
    const [names = '', defaults = ''] = row.split(' | ')
    const keys = [...names.matchAll(/`([A-Za-z]+)`/g)].map((m) => m[1] as string)
    const values = [...defaults.matchAll(/`([^`]+)`/g)].map((m) => m[1] as string)
    // A row of several options gives one default each, in order; rows without a default in code (runner, authenticate, ...) have none.
    if (values.length === keys.length) keys.forEach((key, i) => documented.set(key, values[i] as string))
  }
  const applied = normalizeOptions({ runner: async function * () {} }) as unknown as Record<string, unknown>
  for (const [name, value] of Object.entries(DEFAULTS)) {
    t.equal(documented.get(name), render(value), `${name}: the README says ${documented.get(name)}`)
    t.same(applied[name], value, `${name}: normalizeOptions() applies it`)
  }
  // Every option with a default in code is in DEFAULTS: the ones without are the ones given as functions, objects or nothing.
  const withoutDefault = ['runner', 'runs', 'websocket', 'authenticate', 'authorizeRun', 'allowedOrigins', 'metrics', 'agUi']
  t.same(Object.keys(OPTION_NAMES).filter((n) => !(n in DEFAULTS)).sort(), withoutDefault.sort())
})

t.test("docs/ag-ui.md's options table lists exactly the agUi options, with the defaults normalizeOptions() applies", async (t) => {
  const { AG_UI_DEFAULTS, AG_UI_OPTION_NAMES, normalizeOptions } = await import('../lib/options.js')
  const doc = read('docs/ag-ui.md')
  const lines = doc.slice(doc.indexOf('## Options')).split('\n').slice(2)
  // The first table after the heading, to its end.
  const rows = lines.slice(0, lines.findIndex((l, i) => i > 0 && !l.startsWith('|'))).filter((l) => l.startsWith('| `'))
  const documented = new Map(rows.map((row) => {
    const [name = '', value = ''] = row.split(' | ')
    return [/`([A-Za-z]+)`/.exec(name)?.[1] as string, /`([^`]+)`/.exec(value)?.[1] as string]
  }))
  t.same([...documented.keys()].sort(), Object.keys(AG_UI_OPTION_NAMES).sort())
  const applied = normalizeOptions({ runner: async function * () {}, agUi: true }).agUi as Record<string, unknown>
  for (const [name, value] of Object.entries(AG_UI_DEFAULTS)) {
    t.equal(documented.get(name), typeof value === 'string' ? `'${value}'` : String(value), `${name}: docs/ag-ui.md says ${documented.get(name)}`)
    t.equal(applied[name], value, `${name}: normalizeOptions() applies it`)
  }
})

t.test('docs/metrics.md lists exactly the metrics registered, with their types and labels, and the span\'s attributes', async (t) => {
  const { Registry } = await import('prom-client')
  const { PLUGIN_METRICS } = await import('../lib/metrics.js')
  const { PYTHON_METRICS } = await import('../lib/python/metrics.js')
  const { SPAN_ATTRIBUTES, SPAN_NAME } = await import('../lib/tracing.js')
  const doc = read('docs/metrics.md')
  const documented = [...doc.matchAll(/^\| `(autogen_stream_\w+)` \| (\w+) \| ([^|]*) \|/gm)]
    .map((m) => `${m[1]} ${m[2]} ${[...(m[3] ?? '').matchAll(/`(\w+)`/g)].map((l) => l[1]).join(',')}`)
  t.same(documented, [...PLUGIN_METRICS, ...PYTHON_METRICS].map((m) => `${m.name} ${m.type} ${m.labels.join(',')}`))

  // What a registry holds once the plugin and a pythonRunner registered on it: the same names and types.
  const { default: Fastify } = await import('fastify')
  const { default: autogenStream, pythonRunner } = await import('../lib/index.js')
  const registry = new Registry()
  const app = Fastify()
  t.after(() => app.close())
  // Never ready (no such Python): its metrics are registered all the same; its log is the app's, which is silent.
  const runner = pythonRunner({ factory: 'nothing:here', python: '/nonexistent/python', workers: 1, logger: app.log })
  await app.register(autogenStream, { runner: { run: runner.run, metrics: runner.metrics, close: runner.close }, metrics: registry })
  const registered = (await registry.getMetricsAsJSON()).map((m) => `${m.name} ${m.type}`)
  t.same(registered.sort(), [...PLUGIN_METRICS, ...PYTHON_METRICS].map((m) => `${m.name} ${m.type}`).sort())

  t.match(doc, `| name | \`${SPAN_NAME}\` |`)
  const attributes = [...doc.matchAll(/^\| `((?:autogen_stream|gen_ai)\.[\w.]+)` \|/gm)].map((m) => m[1])
  t.same(attributes, Object.values(SPAN_ATTRIBUTES))
})
