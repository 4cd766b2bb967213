import t from 'tap'
import { startServer, Client, logCollector, waitFor } from './fixtures/server.js'
import { examplesRunner } from './fixtures/python.js'
import type { RunErrorFrame } from '../lib/index.js'

// AutoGen takes a second or more to import: a worker killed right after it
// was spawned, in the same turn of our loop, is always killed before `ready`.

t.test('kill -9 of the only worker during its start-up: app.ready() fails with AGS_PYTHON_NOT_READY naming the signal', async (t) => {
  const runner = examplesRunner({ workers: 1 })
  t.after(() => runner.close())
  process.kill(runner.pids[0] as number, 'SIGKILL')
  await t.rejects(startServer({ runner }), {
    code: 'AGS_PYTHON_NOT_READY',
    message: /could not start: the Python worker exited \(signal SIGKILL\)\. Check pythonRunner's factory, cwd and pythonPath$/
  })
})

t.test('kill -9 during start-up, with a runner that skips the start-up check: a run sent meanwhile gets AGS_WORKER_UNAVAILABLE at once; the replacement gets ready and serves', async (t) => {
  const runner = examplesRunner({ workers: 1 })
  const logs = logCollector()
  const { app, url } = await startServer({ runner: { run: runner.run, close: runner.close, init: runner.init } }, undefined, logs.stream)
  t.after(() => app.close())
  const first = runner.pids[0] as number
  process.kill(first, 'SIGKILL')
  await waitFor(() => runner.pids[0] === undefined)
  const c = await Client.connect(url)
  t.after(() => c.close())
  c.send({ type: 'start', runId: 'early', task: 'x', options: { example: 'streaming_agent' } })
  const early = (await c.untilEnded('early')).at(-1) as RunErrorFrame
  t.same([early.type, early.code, early.message], ['error', 'AGS_WORKER_UNAVAILABLE', 'No Python worker could take the run'])
  t.ok(logs.lines.some((l) => l.level === 50 && l.reason === 'the Python worker exited (signal SIGKILL)'), 'the cause is logged at error')

  await waitFor(() => runner.pids[0] !== undefined)
  t.not(runner.pids[0], first, 'a new process in the slot')
  await runner.ready()
  c.send({ type: 'start', runId: 'later', task: 'x', options: { example: 'streaming_agent' } })
  t.equal((await c.untilEnded('later')).at(-1)?.type, 'result', 'the replacement serves')
})
