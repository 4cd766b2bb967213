import t from 'tap'
import { startServer, Client, waitFor } from './fixtures/server.js'
import { fastRunner, probe } from './fixtures/runners.js'
import type { CancelledFrame } from '../lib/index.js'

t.test('fastify.close(): runs cancelled, final frame and 1001, runner.close() awaited, stalled clients cut', async (t) => {
  const probes = { reader: probe(), stalled: probe() }
  let runnerClosed = false
  const { app, url } = await startServer({
    closeGrace: 200,
    stallTimeout: 0,
    runner: {
      run: (req, ctx) => fastRunner(probes[req.runId as keyof typeof probes], Infinity, 200)(req, ctx),
      close: async () => {
        await new Promise((resolve) => setTimeout(resolve, 20))
        runnerClosed = true
      }
    }
  })
  const reader = await Client.connect(url)
  reader.send({ type: 'start', runId: 'reader', task: 'x' })
  const stalled = await Client.connect(url)
  stalled.ws.pause()
  stalled.send({ type: 'start', runId: 'stalled', task: 'x' })
  await reader.until(() => reader.run('reader').length > 10)
  // Wait until the stalled client's run is held by backpressure.
  let last = -1
  while (probes.stalled.pulled !== last || last === 0) {
    last = probes.stalled.pulled
    await new Promise((resolve) => setTimeout(resolve, 100))
  }

  await app.close()
  t.ok(runnerClosed, 'runner.close() was awaited')
  t.ok(probes.reader.aborted && probes.stalled.aborted, 'both runs were cancelled upstream')

  const readerClose = await reader.closed
  t.equal(readerClose.code, 1001)
  t.equal(readerClose.reason, 'The server is shutting down')
  const last2 = reader.run('reader').at(-1) as CancelledFrame
  t.same([last2.type, last2.reason], ['cancelled', 'shutdown'], 'the reading client got a final cancelled frame')

  // The stalled client never read the close frame: the server destroyed its
  // socket after closeGrace. Reading again, it finds the connection cut.
  stalled.ws.resume()
  const stalledClose = await stalled.closed
  t.equal(stalledClose.code, 1006)
  await waitFor(() => probes.stalled.returned && probes.reader.returned)
  t.equal(app.autogenStream.connections, 0)
  t.equal(app.autogenStream.runs, 0)
})
