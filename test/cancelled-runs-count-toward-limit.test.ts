import t from 'tap'
import { startServer, Client, untilServerBuffered, waitFor } from './fixtures/server.js'
import { fastRunner, probe } from './fixtures/runners.js'

// A client that stops reading and sends start+cancel pairs used to pile up
// cancelled runs (their `cancelled` frames wait for the socket) without
// limit: 5,000 pairs left 5,002 runs in the registry.
t.test('a client that stops reading cannot pile up cancelled runs: they count until their terminal frame is written', async (t) => {
  const p = probe()
  const { app, url } = await startServer({
    runner: fastRunner(p, Infinity),
    maxRunsPerConnection: 4,
    maxBufferedBytes: 1024,
    stallTimeout: 0,
    maxBadFrames: 9000,
    onDisconnect: 'cancel'
  })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  // Stop reading, and let one fast run fill the socket until the sender waits.
  c.ws.pause()
  c.send({ type: 'start', runId: 'hog', task: 'x' })
  await untilServerBuffered(app, 1024)

  for (let i = 0; i < 5000; i++) {
    c.send({ type: 'start', runId: `r${i}`, task: 'x' })
    c.send({ type: 'cancel', runId: `r${i}` })
  }
  // Three pairs fit beside the hog; every later start is refused and its
  // cancel names an unknown run. Those refusals are answers the client does
  // not read either: once maxBufferedBytes of them wait, the server stops
  // reading the client (answers-to-a-client-that-does-not-read.test.ts).
  const server = [...app.websocketServer.clients][0] as unknown as { isPaused: boolean }
  await waitFor(() => server.isPaused)
  t.equal(app.autogenStream.counters.runsStarted, 4, 'the hog and three cancelled runs; never more than maxRunsPerConnection')
  t.equal(app.autogenStream.runs, 1, 'only the hog is still running: the cancelled runs ended')
  c.ws.terminate()
  await waitFor(() => app.autogenStream.connections === 0 && app.autogenStream.runs === 0)
  t.equal(app.autogenStream.counters.runsStarted, 4, 'and no start behind the pause ever ran')
})
