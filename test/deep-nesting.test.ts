import t from 'tap'
import { startServer, Client, waitFor } from './fixtures/server.js'
import { examplesRunner, workerStats } from './fixtures/python.js'
import type { ConnectionErrorFrame, RunContext, RunErrorFrame, RunRequest } from '../lib/index.js'

function nested (depth: number): Record<string, unknown> {
  let value: Record<string, unknown> = { leaf: true }
  for (let i = 1; i < depth; i++) value = { a: value }
  return value
}

/** The JSON text of nested(depth), built as text: JSON.stringify itself gives up on deep values. */
function nestedText (depth: number): string {
  return '{"a":'.repeat(depth - 1) + '{"leaf":true}' + '}'.repeat(depth - 1)
}

t.test('frames nesting deeper than maxFrameDepth get AGS_BAD_FRAME before parsing; the worker never sees them', async (t) => {
  const runner = examplesRunner({ workers: 1 })
  const { app, url } = await startServer({ runner, maxPayload: 1 << 20 })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  await runner.ready()
  const [pid] = runner.pids

  // 1,500 levels in 9 KiB used to pass the schema and kill the worker (RecursionError).
  for (const [field, depth] of [['options', 1500], ['task', 5000], ['options', 33]] as const) {
    const before = c.frames.length
    const value = nestedText(depth)
    c.send(field === 'task' ? `{"type":"start","runId":"deep","task":${value}}` : `{"type":"start","runId":"deep","task":"x","options":${value}}`)
    await c.until((f) => f.length > before)
    t.same(c.frames.slice(before), [{ type: 'error', code: 'AGS_BAD_FRAME', message: 'Invalid frame: task and options may nest at most 32 levels (maxFrameDepth)' } satisfies ConnectionErrorFrame], `${field} ${depth} levels deep`)
  }
  // Brackets inside strings are text, not nesting.
  c.send({ type: 'start', runId: 'ok', task: '['.repeat(5000), options: { example: 'streaming_agent', deep: nested(31) } })
  t.equal((await c.untilEnded('ok')).at(-1)?.type, 'result', 'options of 32 levels are allowed and reach the worker')
  t.equal(runner.pids[0], pid, 'the worker never died')
  t.equal((await workerStats(runner))[0]?.started_total, 1, 'only the allowed run reached it')
})

t.test('a runner that passes nesting JSON cannot write gets BAD_REQUEST; nothing is attached to the worker', async (t) => {
  const python = examplesRunner({ workers: 1 })
  const deep = nested(100_000)
  const { app, url } = await startServer({
    runner: {
      run: (request: RunRequest, context: RunContext) => python.run({ ...request, options: { deep } }, context),
      close: async () => { await python.close() }
    }
  })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  c.send({ type: 'start', runId: 'r', task: 'x' })
  const last = (await c.untilEnded('r')).at(-1) as RunErrorFrame
  t.equal(last.code, 'AGS_BAD_REQUEST')
  t.match(last.message, /cannot be sent to the Python worker: they cannot be written as JSON/)
  t.same(python.loads, [0], 'no listener left on the worker')
  await waitFor(() => app.autogenStream.runs === 0)
  t.equal((await workerStats(python))[0]?.started_total, 0)
})
