import t from 'tap'
import { startServer, Client, waitFor } from './fixtures/server.js'
import { fastRunner, probe } from './fixtures/runners.js'
import type { CancelledFrame } from '../lib/index.js'

t.test('a client over the byte limit for stallTimeout: runs cancelled, close 4008', async (t) => {
  const p = probe()
  const { app, url } = await startServer({ stallTimeout: 300, closeGrace: 60_000, runner: fastRunner(p, Infinity, 500) })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  c.ws.pause()
  c.send({ type: 'start', runId: 'slow', task: 'x' })
  await waitFor(() => p.aborted)
  t.equal((p.signalReason as Error).message, 'The run was cancelled (slow_consumer)')
  t.equal(app.autogenStream.counters.cancels, 1)

  // Reading again, the client finds the run's cancelled frame, then the close.
  c.ws.resume()
  const closed = await c.closed
  t.equal(closed.code, 4008)
  t.match(closed.reason, /^The client did not read for 300 ms with \d+ bytes buffered$/)
  const frames = c.run('slow')
  const last = frames.at(-1) as CancelledFrame
  t.same([last.type, last.reason], ['cancelled', 'slow_consumer'])
  t.same(frames.map((f) => f.seq), frames.map((_, i) => i), 'seq without gaps up to the end')
  await waitFor(() => p.returned)
  t.ok(p.returned)
})

t.test('stallTimeout 0 keeps a stalled client (the runner just stays paused)', async (t) => {
  const p = probe()
  const { app, url } = await startServer({ stallTimeout: 0, runner: fastRunner(p, Infinity, 500) })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  c.ws.pause()
  c.send({ type: 'start', runId: 'slow', task: 'x' })
  await waitFor(() => p.pulled > 1000)
  await new Promise((resolve) => setTimeout(resolve, 400))
  t.notOk(p.aborted)
  t.equal(app.autogenStream.connections, 1)
})
