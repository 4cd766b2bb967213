import t from 'tap'
import { startServer, Client } from './fixtures/server.js'
import { bridgeSession, examplesRunner } from './fixtures/python.js'
import type { RunErrorFrame } from '../lib/index.js'

t.test('a factory that raises, a bad task: clear errors, the worker goes on', async (t) => {
  const { c } = await bridgeSession(t)

  c.send({ type: 'start', runId: 'raise', task: 'x', options: { example: 'failing_factory' } })
  const raised = (await c.untilEnded('raise')).at(-1) as RunErrorFrame
  t.same([raised.type, raised.code, raised.message], ['error', 'FACTORY_ERROR', 'ValueError: factory failed on purpose'])

  c.send({ type: 'start', runId: 'bad-opt', task: 'x', options: { example: 'long_stream', words: -3 } })
  const badOpt = (await c.untilEnded('bad-opt')).at(-1) as RunErrorFrame
  t.equal(badOpt.code, 'FACTORY_ERROR')
  t.match(badOpt.message, /options.words must be a positive integer/)

  c.send({ type: 'start', runId: 'bad-task', task: { type: 'NoSuchMessage', content: 1 }, options: { example: 'streaming_agent' } })
  const badTask = (await c.untilEnded('bad-task')).at(-1) as RunErrorFrame
  t.equal(badTask.type, 'error')
  t.equal(badTask.code, 'BAD_REQUEST')

  c.send({ type: 'start', runId: 'fine', task: 'x', options: { example: 'streaming_agent' } })
  t.equal((await c.untilEnded('fine')).at(-1)?.type, 'result')
})

t.test('a factory module that does not import: every run gets a clear error, never a hang', async (t) => {
  const runner = examplesRunner({ factory: 'no_such_module_here:create', readyTimeout: 30_000 })
  const { app, url } = await startServer({ runner })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  c.send({ type: 'start', runId: 'r', task: 'x' })
  const last = (await c.untilEnded('r')).at(-1) as RunErrorFrame
  t.equal(last.code, 'WORKER_UNAVAILABLE')
  t.match(last.message, /no_such_module_here/)
  c.send({ type: 'start', runId: 'r2', task: 'x' })
  t.equal(((await c.untilEnded('r2')).at(-1) as RunErrorFrame).code, 'WORKER_UNAVAILABLE', 'and again for the next run')
})
