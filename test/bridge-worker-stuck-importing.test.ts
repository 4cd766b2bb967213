import t from 'tap'
import { startServer, Client, logCollector, waitFor } from './fixtures/server.js'
import { examplesRunner } from './fixtures/python.js'
import type { RunErrorFrame } from '../lib/index.js'

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

t.test('a worker stuck importing the factory is killed after readyTimeout and restarted; runs get WORKER_UNAVAILABLE', async (t) => {
  const runner = examplesRunner({ factory: 'stuck_import:create', readyTimeout: 1500 })
  const logs = logCollector()
  // Without the start-up check (which would fail app.ready(), see below), to see what runs get.
  const { app, url } = await startServer({ runner: { run: runner.run, close: runner.close, init: runner.init } }, undefined, logs.stream)
  t.after(() => app.close())
  const [first] = runner.pids as [number]
  const c = await Client.connect(url)
  t.after(() => c.close())
  c.send({ type: 'start', runId: 'r', task: 'x' })
  const last = (await c.untilEnded('r')).at(-1) as RunErrorFrame
  t.same([last.code, last.message], ['AGS_WORKER_UNAVAILABLE', 'No Python worker could take the run'])
  await waitFor(() => !alive(first))
  await waitFor(() => runner.pids[0] !== undefined && runner.pids[0] !== first)
  t.pass('the stuck process is gone and a new one was started in its slot')
  t.ok(logs.lines.some((l) => typeof l.msg === 'string' && l.msg.includes('not ready within 1500 ms; killing it')), 'the kill is logged')
})

t.test('with the start-up check, app.ready() fails once the stuck worker is killed', async (t) => {
  const runner = examplesRunner({ factory: 'stuck_import:create', readyTimeout: 1500 })
  t.after(() => runner.close())
  await t.rejects(startServer({ runner }), {
    code: 'AGS_PYTHON_NOT_READY',
    message: /could not start: the Python worker was not ready within 1500 ms\. Check pythonRunner's factory, cwd and pythonPath$/
  })
})
