import t from 'tap'
import { startServer, Client, logCollector } from './fixtures/server.js'
import { examplesRunner } from './fixtures/python.js'
import type { RunErrorFrame } from '../lib/index.js'

t.test('a factory that raises, a bad task: clear errors, the worker goes on; Python\'s error text stays in the server log', async (t) => {
  const runner = examplesRunner()
  const logs = logCollector()
  const { app, url } = await startServer({ runner }, undefined, logs.stream)
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())

  c.send({ type: 'start', runId: 'raise', task: 'x', options: { example: 'failing_factory' } })
  const raised = (await c.untilEnded('raise')).at(-1) as RunErrorFrame
  t.same([raised.type, raised.code, raised.message], ['error', 'AGS_FACTORY_ERROR', 'The agent factory failed'])
  const logged = logs.lines.find((l) => l.code === 'AGS_FACTORY_ERROR')
  t.match(logged?.detail, /^ValueError: factory failed on purpose/, 'the exception is in the server log')

  c.send({ type: 'start', runId: 'bad-opt', task: 'x', options: { example: 'long_stream', words: -3 } })
  const badOpt = (await c.untilEnded('bad-opt')).at(-1) as RunErrorFrame
  t.same([badOpt.code, badOpt.message], ['AGS_FACTORY_ERROR', 'The agent factory failed'])
  t.ok(logs.lines.some((l) => typeof l.detail === 'string' && l.detail.includes('options.words must be a positive integer')))

  c.send({ type: 'start', runId: 'meant', task: 'x', options: { test_factory: 'run_error_stream' } })
  const meant = (await c.untilEnded('meant')).at(-1) as RunErrorFrame
  t.same([meant.code, meant.message], ['UPSTREAM_DOWN', 'The weather service is down; try again later'], 'a Python RunError reaches the client as it is')

  c.send({ type: 'start', runId: 'bad-task', task: { type: 'NoSuchMessage', content: 1 }, options: { example: 'streaming_agent' } })
  const badTask = (await c.untilEnded('bad-task')).at(-1) as RunErrorFrame
  t.equal(badTask.type, 'error')
  t.equal(badTask.code, 'AGS_BAD_REQUEST')

  c.send({ type: 'start', runId: 'fine', task: 'x', options: { example: 'streaming_agent' } })
  t.equal((await c.untilEnded('fine')).at(-1)?.type, 'result')
})

t.test('a factory module that does not import: app.ready() fails saying why and what to check', async (t) => {
  const runner = examplesRunner({ factory: 'no_such_module_here:create', readyTimeout: 30_000 })
  t.after(() => runner.close())
  await t.rejects(startServer({ runner }), {
    code: 'AGS_PYTHON_NOT_READY',
    message: /^The Python worker \(.*\.venv\/bin\/python\) could not start: cannot import factory module 'no_such_module_here': ModuleNotFoundError: No module named 'no_such_module_here'\. Check pythonRunner's factory, cwd and pythonPath$/
  })
})

t.test('a factory module that does not import, with a runner that skips the start-up check: every run gets a clear error at once, never a hang', async (t) => {
  const python = examplesRunner({ factory: 'no_such_module_here:create', readyTimeout: 600_000 })
  const { app, url } = await startServer({ runner: { run: python.run, close: python.close } })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  c.send({ type: 'start', runId: 'r', task: 'x' })
  const last = (await c.untilEnded('r')).at(-1) as RunErrorFrame
  t.same([last.code, last.message], ['AGS_WORKER_UNAVAILABLE', 'No Python worker could take the run'], 'no module names or paths for the client')
  c.send({ type: 'start', runId: 'r2', task: 'x' })
  t.equal(((await c.untilEnded('r2')).at(-1) as RunErrorFrame).code, 'AGS_WORKER_UNAVAILABLE', 'and again for the next run')
})
