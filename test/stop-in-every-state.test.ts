import t from 'tap'
import { startServer, Client, untilServerBuffered, waitFor } from './fixtures/server.js'
import { fastRunner, probe } from './fixtures/runners.js'
import { result } from './fixtures/events.js'
import { examplesRunner } from './fixtures/python.js'
import type { AutoGenEvent, ResultFrame, RunContext, RunRequest } from '../lib/index.js'

// `stop` used to be lost while the run waited for a worker, and refused
// (AGS_UNKNOWN_RUN) after the runner's TaskResult was read but before its
// frame was out.

t.test('stop after the TaskResult was read but before its frame is written: accepted, the run ends with that result', async (t) => {
  const p = probe()
  let resultRead = false
  const { app, url } = await startServer({
    maxBufferedBytes: 1024,
    stallTimeout: 0,
    runner: (request: RunRequest, context: RunContext) => {
      if (request.runId === 'hog') return fastRunner(p, Infinity)(request, context)
      return (async function * (): AsyncGenerator<AutoGenEvent> {
        resultRead = true
        yield result([], 'finished on its own')
      })()
    }
  })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  c.ws.pause()
  c.send({ type: 'start', runId: 'hog', task: 'x' })
  await untilServerBuffered(app, 1024)
  c.send({ type: 'start', runId: 'quick', task: 'x' })
  await waitFor(() => resultRead)
  c.send({ type: 'stop', runId: 'quick' })
  c.send({ type: 'cancel', runId: 'hog' })
  c.ws.resume()
  const quick = await c.untilEnded('quick')
  t.same(quick.map((f) => f.type), ['started', 'result'])
  t.equal((quick.at(-1) as ResultFrame).result.stop_reason, 'finished on its own')
  await c.untilEnded('hog')
  t.same(c.frames.filter((f) => !('seq' in f)), [], 'no error frame: the stop was accepted')
})

t.test('stop while the run waits for a Python worker reaches the team once it is built: a normal result', async (t) => {
  const python = examplesRunner({ workers: 1 })
  const { app, url } = await startServer({
    runner: {
      // Holds the run until the client's stop has arrived: the bridge gets a run whose stop came first.
      async * run (request: RunRequest, context: RunContext) {
        if (!context.stopSignal.aborted) await new Promise((resolve) => context.stopSignal.addEventListener('abort', resolve, { once: true }))
        yield * python.run(request, context)
      },
      close: async () => { await python.close() }
    }
  })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  c.send({ type: 'start', runId: 'team', task: 'x', options: { test_factory: 'slow_team', delay: 0.01 } })
  await c.until(() => c.run('team').length === 1)
  c.send({ type: 'stop', runId: 'team' })
  const frames = await c.untilEnded('team')
  const last = frames.at(-1) as ResultFrame
  t.equal(last.type, 'result')
  t.equal(last.result.stop_reason, 'External termination requested')
  t.ok(last.result.messages.length < 21, 'the team stopped early, not after its 21 messages')
  t.same(c.frames.filter((f) => !('seq' in f)), [], 'no error frame')
})
