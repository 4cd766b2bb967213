import t, { type Test } from 'tap'
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pythonRunner, type RunErrorFrame, type TokenFrame } from '../lib/index.js'
import { startServer, Client, logCollector, waitFor } from './fixtures/server.js'

/*
 * `chunks` lines from a worker, good and bad, written by a stand-in worker
 * in JS: the task of each run is the list of lines it writes for it (RUN
 * stands for the run's key). A line Node cannot use ends its run with
 * AGS_BAD_LINE, like any other (bridge-hostile-worker-lines), and the
 * worker and the next run go on.
 */

const FAKE = `
import { createInterface } from 'node:readline'
const write = (line) => process.stdout.write(line + '\\n')
write(JSON.stringify({ ev: 'ready', pid: process.pid, python: 'fake', autogen: 'fake' }))
const runs = new Set()
createInterface({ input: process.stdin }).on('line', (line) => {
  const op = JSON.parse(line)
  if (op.op === 'stats') return write(JSON.stringify({ ev: 'stats', id: op.id, active: runs.size, runs: {}, pulled_total: 0, started_total: 0, cancelled: [] }))
  if (op.op === 'cancel') { if (runs.delete(op.run)) write(JSON.stringify({ ev: 'cancelled', run: op.run })); return }
  if (op.op !== 'start') return
  runs.add(op.run)
  for (const template of op.task) write(template.replaceAll('RUN', JSON.stringify(op.run)))
  if (op.task.at(-1)?.includes('"end"')) runs.delete(op.run)
})
`

async function session (t: Test) {
  const dir = mkdtempSync(join(tmpdir(), 'ags-chunks-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  writeFileSync(join(dir, 'fake.mjs'), FAKE)
  writeFileSync(join(dir, 'python'), '#!/bin/sh\nexec node "$(dirname "$0")/fake.mjs" "$@"\n')
  chmodSync(join(dir, 'python'), 0o755)
  const runner = pythonRunner({ python: join(dir, 'python'), factory: 'fake:factory', workers: 1 })
  const logs = logCollector()
  const { app, url } = await startServer({ runner, coalesceTokens: false }, undefined, logs.stream)
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  await runner.ready()
  return { runner, c, logs }
}

const RESULT = '{"ev":"item","run":RUN,"item":{"type":"TaskResult","messages":[],"stop_reason":"done"}}'
const END = '{"ev":"end","run":RUN}'

t.test('a chunks line is one token frame per entry, in order, with its source and full_message_id', async (t) => {
  const { c } = await session(t)
  c.send({
    type: 'start',
    runId: 'good',
    task: [
      '{"ev":"chunks","run":RUN,"source":"writer","full_message_id":"m1","content":["Hel","lo \\u2028 \\"q\\"",""]}',
      '{"ev":"item","run":RUN,"item":{"type":"ModelClientStreamingChunkEvent","id":"c9","source":"writer","content":"!","full_message_id":"m1","models_usage":null,"metadata":{"k":"v"},"created_at":"2026-01-01T00:00:00Z"}}',
      '{"ev":"chunks","run":RUN,"source":"critic","full_message_id":null,"content":["ok"]}',
      RESULT,
      END
    ]
  })
  const frames = await c.untilEnded('good')
  t.same(frames.map((f) => f.type), ['started', 'token', 'token', 'token', 'token', 'token', 'result'])
  const tokens = frames.filter((f): f is TokenFrame => f.type === 'token')
  t.same(tokens.map((f) => [f.source, f.full_message_id, f.text, f.chunks]), [
    ['writer', 'm1', 'Hel', 1], ['writer', 'm1', 'lo \u2028 "q"', 1], ['writer', 'm1', '', 1], ['writer', 'm1', '!', 1], ['critic', null, 'ok', 1]
  ])
  t.same(tokens.map((f) => f.seq), [1, 2, 3, 4, 5], 'a seq each')
})

const bad: Array<[name: string, line: string]> = [
  ['content is not a list', '{"ev":"chunks","run":RUN,"source":"s","full_message_id":null,"content":"abc"}'],
  ['content is empty', '{"ev":"chunks","run":RUN,"source":"s","full_message_id":null,"content":[]}'],
  ['content holds a number', '{"ev":"chunks","run":RUN,"source":"s","full_message_id":null,"content":["a",1]}'],
  ['no source', '{"ev":"chunks","run":RUN,"full_message_id":null,"content":["a"]}'],
  ['full_message_id is a number', '{"ev":"chunks","run":RUN,"source":"s","full_message_id":7,"content":["a"]}'],
  ['cut in the middle of its list', '{"ev":"chunks","run":RUN,"source":"s","full_message_id":null,"content":["a",']
]

for (const [name, line] of bad) {
  t.test(`a chunks line whose ${name} ends its run with AGS_BAD_LINE, and nothing of it reaches the client`, async (t) => {
    const { runner, c, logs } = await session(t)
    const [pid] = runner.pids
    c.send({ type: 'start', runId: 'bad', task: [line, RESULT, END] })
    const frames = await c.untilEnded('bad')
    t.same(frames.map((f) => f.type), ['started', 'error'])
    t.equal((frames.at(-1) as RunErrorFrame).code, 'AGS_BAD_LINE')
    t.ok(logs.lines.some((l) => l.code === 'AGS_BAD_LINE' && typeof l.detail === 'string'), 'the line is described in the server log')
    await waitFor(() => runner.loads[0] === 0)

    c.send({ type: 'start', runId: 'next', task: ['{"ev":"chunks","run":RUN,"source":"s","full_message_id":null,"content":["fine"]}', RESULT, END] })
    t.same((await c.untilEnded('next')).map((f) => f.type), ['started', 'token', 'result'])
    t.equal(runner.pids[0], pid, 'same worker process')
  })
}
