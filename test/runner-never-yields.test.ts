import t from 'tap'
import { startServer, Client, waitFor } from './fixtures/server.js'
import { examplesRunner } from './fixtures/python.js'
import type { RunErrorFrame } from '../lib/index.js'

// test/timeouts.test.ts holds runTimeout on a runner that yields and then
// waits for its signal; these hold it on runners that never yield at all.

t.test('a runner that never yields and ignores its signal: runTimeout ends the run with AGS_RUN_TIMEOUT all the same; the connection goes on', async (t) => {
  let calls = 0
  const { app, url } = await startServer({
    runTimeout: 200,
    runner: async function * (request) {
      calls++
      if (request.task === 'stuck') await new Promise(() => {})
      yield { type: 'TaskResult', messages: [], stop_reason: 'quick' }
    }
  })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  c.send({ type: 'start', runId: 'stuck', task: 'stuck' })
  const frames = await c.untilEnded('stuck')
  t.same(frames.map((f) => f.type), ['started', 'error'])
  const last = frames.at(-1) as RunErrorFrame
  t.same([last.code, last.message], ['AGS_RUN_TIMEOUT', 'The run exceeded runTimeout (200 ms)'])
  c.send({ type: 'start', runId: 'next', task: 'quick' })
  t.equal((await c.untilEnded('next')).at(-1)?.type, 'result', 'the next run on the same connection is served')
  t.equal(calls, 2)
})

t.test('a Python run whose model never answers: runTimeout ends it with AGS_RUN_TIMEOUT and the worker cancels it in Python', async (t) => {
  const runner = examplesRunner()
  const { app, url } = await startServer({ runner, runTimeout: 500 })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  c.send({ type: 'start', runId: 'stuck', task: 'x', options: { example: 'slow_agent' } })
  const frames = await c.untilEnded('stuck')
  const last = frames.at(-1) as RunErrorFrame
  t.same([last.type, last.code, last.message], ['error', 'AGS_RUN_TIMEOUT', 'The run exceeded runTimeout (500 ms)'])
  t.notOk(frames.some((f) => f.type === 'token'), 'it never yielded a token')
  let stats = await runner.stats()
  while (stats[0]?.active !== 0) {
    await waitFor(() => true)
    stats = await runner.stats()
  }
  t.equal(stats[0]?.cancelled.length, 1, 'cancelled in Python, not left running')
  c.send({ type: 'start', runId: 'next', task: 'x', options: { example: 'streaming_agent' } })
  t.equal((await c.untilEnded('next')).at(-1)?.type, 'result')
})
