import t from 'tap'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Events, Ops, checkEvent, type WorkerOp } from '../lib/python/protocol.js'
import { venvPython } from './fixtures/python.js'

// lib/python/protocol.ts is the protocol's one source: the Python side's
// TypedDicts, its decoder and the tables of docs/bridge.md are held to it.

const root = join(dirname(fileURLToPath(import.meta.url)), '..')

interface Shape { required: string[], optional: string[] }

function shapes (schemas: Record<string, { properties: Record<string, unknown>, required?: string[] }>, tag: 'op' | 'ev'): Record<string, Shape> {
  return Object.fromEntries(Object.entries(schemas).map(([name, schema]) => {
    const fields = Object.keys(schema.properties).filter((f) => f !== tag)
    const required = (schema.required ?? []).filter((f) => f !== tag)
    return [name, { required: required.sort(), optional: fields.filter((f) => !required.includes(f)).sort() }]
  }))
}

const node = { op: shapes(Ops, 'op'), ev: shapes(Events, 'ev') }

/** Runs Python with the bridge package importable; its stdout is one JSON value. */
function python (code: string, input = ''): unknown {
  const res = spawnSync(venvPython, ['-c', code], { input, encoding: 'utf8', env: { ...process.env, PYTHONPATH: join(root, 'python') } })
  if (res.status !== 0) throw new Error(res.stderr)
  return JSON.parse(res.stdout)
}

t.test('protocol.py\'s TypedDicts have the fields of lib/python/protocol.ts', async (t) => {
  const py = python(`
import json, typing
from autogen_stream_bridge import protocol
out = {"op": {}, "ev": {}}
# Not __required_keys__: under "from __future__ import annotations" Python 3.11 counts NotRequired fields as required.
for tag, union in (("op", protocol.Op), ("ev", protocol.Ev)):
    for cls in typing.get_args(union):
        hints = typing.get_type_hints(cls, include_extras=True)
        name = typing.get_args(hints[tag])[0]
        optional = {f for f, h in hints.items() if typing.get_origin(h) is typing.NotRequired}
        fields = [f for f in hints if f != tag]
        out[tag][name] = {"required": sorted(f for f in fields if f not in optional), "optional": sorted(f for f in fields if f in optional)}
print(json.dumps(out))
`) as { op: Record<string, Shape>, ev: Record<string, Shape> }
  t.same(Object.keys(py.op).sort(), Object.keys(node.op).sort(), 'the same ops')
  t.same(Object.keys(py.ev).sort(), Object.keys(node.ev).sort(), 'the same evs')
  for (const [name, shape] of Object.entries(node.op)) {
    // Python may accept ops of older callers (fields Node always sends may be optional there).
    const accepted = [...(py.op[name]?.required ?? []), ...(py.op[name]?.optional ?? [])].sort()
    t.same(accepted, [...shape.required, ...shape.optional].sort(), `op ${name}: the same fields`)
    t.ok((py.op[name]?.required ?? []).every((f) => shape.required.includes(f)), `op ${name}: what Python requires, Node always sends`)
  }
  for (const [name, shape] of Object.entries(node.ev)) t.same(py.ev[name], shape, `ev ${name}: the same required and optional fields`)
})

t.test('Python decodes every op Node encodes, and Node validates every ev Python encodes', async (t) => {
  const ops: WorkerOp[] = [
    { op: 'start', run: 'k-1', run_id: 'r1', task: [{ type: 'TextMessage', content: 'hi' }], options: { a: [1, { b: null }] }, identity: { id: 'u1', plan: 'pro' }, thread: { state: { type: 'TeamState', agent_states: {} } } },
    { op: 'start', run: 'k-2', run_id: 'r2', task: 'yes', options: {}, identity: { id: 'u1' }, thread: { state: { type: 'TeamState', agent_states: {} }, answer: { request_id: 'q', content: 'yes', source: 'user' } } },
    { op: 'credit', run: 'k-1', n: 32 },
    { op: 'cancel', run: 'k-1' },
    { op: 'stop', run: 'k-1' },
    { op: 'input', run: 'k-1', request_id: 'q', content: 'é \u2028 "quoted"' },
    { op: 'input_error', run: 'k-1', request_id: 'q', message: 'timeout' },
    { op: 'interrupt', run: 'k-1', request_id: 'q' },
    { op: 'stats', id: 7 },
    { op: 'ping', id: 8 },
    { op: 'shutdown' }
  ]
  t.same([...new Set(ops.map((o) => o.op))].sort(), Object.keys(Ops).sort(), 'a sample of every op')
  const decoded = python(`
import json, sys
from autogen_stream_bridge.protocol import decode_op
# Split on b"\\n" as the worker does (str.splitlines would also split at U+2028).
print(json.dumps([decode_op(line) for line in sys.stdin.buffer.read().split(b"\\n")]))
`, ops.map((o) => JSON.stringify(o)).join('\n')) as unknown[]
  t.same(decoded, ops, 'decode_op gives back what Node wrote')

  const lines = python(`
import json, math
from autogen_stream_bridge.protocol import encode_ev
evs = [
    {"ev": "ready", "pid": 1, "python": "3.11", "autogen": "0.7.5"},
    {"ev": "item", "run": "k-1", "item": {"type": "Custom", "x": math.nan}},
    {"ev": "chunks", "run": "k-1", "source": "writer", "full_message_id": None, "content": ["Hel", "lo \u2028 é"]},
    {"ev": "input_request", "run": "k-1", "request_id": "q", "prompt": "?", "source": "user"},
    {"ev": "end", "run": "k-1"},
    {"ev": "cancelled", "run": "k-1"},
    {"ev": "interrupted", "run": "k-1", "request_id": "q"},
    {"ev": "error", "run": "k-1", "code": "AGS_TASK_ERROR", "message": "The run failed", "detail": "ValueError: x"},
    {"ev": "state", "run": "k-1", "state": {"type": "TeamState", "agent_states": {}}},
    {"ev": "state_error", "run": "k-1", "code": "AGS_THREAD_STATE_TOO_LARGE", "message": "too large", "detail": "x"},
    {"ev": "stats", "id": 7, "active": 1, "runs": {"k-1": {"run_id": "r1", "pulled": 2, "credit": 3}}, "pulled_total": 2, "started_total": 1, "cancelled": ["k-0"]},
    {"ev": "pong", "id": 8},
    {"ev": "fatal", "message": "cannot import"},
]
print(json.dumps([encode_ev(ev).decode() for ev in evs]))
`) as string[]
  const evs = lines.map((line) => checkEvent(JSON.parse(line)))
  t.same(evs.map((e) => ('event' in e ? e.event.ev : e.reason)).sort(), Object.keys(Events).sort(), 'every ev passes Node\'s check')
})

t.test('docs/bridge.md\'s op and ev tables name the fields of lib/python/protocol.ts', async (t) => {
  const doc = readFileSync(join(root, 'docs', 'bridge.md'), 'utf8')
  const table = (heading: string): Record<string, string[]> => {
    const rows: Record<string, string[]> = {}
    const section = doc.slice(doc.indexOf(heading))
    for (const line of section.split('\n').slice(1)) {
      if (line.startsWith('#')) break
      const cells = /^\| `([a-z_]+)` \|([^|]*)\|/.exec(line)
      if (cells === null) continue
      rows[cells[1] as string] = [...(cells[2] as string).matchAll(/`([a-z_]+)`(\?)?/g)].map((m) => m[1] + (m[2] ?? '')).sort()
    }
    return rows
  }
  const fields = (shape: Shape): string[] => [...shape.required, ...shape.optional.map((f) => `${f}?`)].sort()
  const ops = table('### Node to Python (stdin)')
  const evs = table('### Python to Node (stdout)')
  t.same(Object.keys(ops).sort(), Object.keys(node.op).sort())
  t.same(Object.keys(evs).sort(), Object.keys(node.ev).sort())
  for (const [name, shape] of Object.entries(node.op)) t.same(ops[name], fields(shape), `op ${name}`)
  for (const [name, shape] of Object.entries(node.ev)) t.same(evs[name], fields(shape), `ev ${name}`)
})
