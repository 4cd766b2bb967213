import t from 'tap'
import { Registry } from 'prom-client'
import { startServer, Client, waitFor } from './fixtures/server.js'
import { examplesRunner, runStats, workerStats } from './fixtures/python.js'
import { valuesOf } from './fixtures/metrics.js'
import type { RunErrorFrame } from '../lib/index.js'

t.test('pythonRunner\'s metrics through the plugin\'s registry: workers, runs, a restart after kill -9, credit stalls', async (t) => {
  const registry = new Registry()
  const runner = examplesRunner({ workers: 1, credit: 8 })
  const { app, url } = await startServer({ runner, metrics: registry, stallTimeout: 0, highWaterMark: 16, maxRunLag: { events: 32 } })
  t.after(() => app.close())
  await runner.ready()
  t.same(await valuesOf(registry, 'autogen_stream_python_workers'), { 'state=ready': 1, 'state=starting': 0 })
  t.same(await valuesOf(registry, 'autogen_stream_python_worker_restarts_total'), { '': 0 })
  t.same(await valuesOf(registry, 'autogen_stream_python_credit_stalls_total'), { '': 0 })

  // A client that does not read: the worker uses up its credit and waits for Node.
  const stalled = await Client.connect(url)
  t.after(() => stalled.close())
  stalled.ws.pause()
  stalled.send({ type: 'start', runId: 'stalled', task: 'x', options: { example: 'long_stream', words: 1_000_000 } })
  let credit: number | undefined
  while (credit !== 0) {
    await new Promise((resolve) => setTimeout(resolve, 50))
    credit = runStats((await workerStats(runner))[0], 'stalled')?.credit
  }
  const stalls = (await valuesOf(registry, 'autogen_stream_python_credit_stalls_total'))[''] as number
  t.ok(stalls >= 1, `the run stalled on credit (${stalls} times so far)`)
  t.same(await valuesOf(registry, 'autogen_stream_python_worker_runs'), { '': 1 })

  // kill -9: the run ends with AGS_WORKER_DIED, the worker is replaced and counted.
  const [pid] = runner.pids
  const reader = await Client.connect(url)
  t.after(() => reader.close())
  process.kill(pid as number, 'SIGKILL')
  await waitFor(() => runner.pids[0] !== undefined && runner.pids[0] !== pid)
  await runner.ready()
  t.same(await valuesOf(registry, 'autogen_stream_python_worker_restarts_total'), { '': 1 })
  t.same(await valuesOf(registry, 'autogen_stream_python_workers'), { 'state=ready': 1, 'state=starting': 0 })
  t.same(await valuesOf(registry, 'autogen_stream_python_worker_runs'), { '': 0 })
  // The stalled client reads again and finds how its run ended.
  stalled.ws.resume()
  const last = (await stalled.untilEnded('stalled')).at(-1) as RunErrorFrame
  t.equal(last.code, 'AGS_WORKER_DIED')
  t.same(await valuesOf(registry, 'autogen_stream_runs_finished_total'), { 'code=AGS_WORKER_DIED,outcome=error,reason=,route=/autogen': 1 })

  // The plugin's own metrics are on the same registry.
  reader.send({ type: 'start', runId: 'after', task: 'x', options: { example: 'streaming_agent' } })
  t.equal((await reader.untilEnded('after')).at(-1)?.type, 'result')
  t.same(await valuesOf(registry, 'autogen_stream_runs_started_total'), { 'route=/autogen': 2 })
})
