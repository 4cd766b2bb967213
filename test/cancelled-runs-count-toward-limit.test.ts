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
    maxBadFrames: 9000
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
  // cancel names an unknown run: 2 × 4,997 bad frames close the connection at the 9,001st.
  await waitFor(() => app.autogenStream.connections === 0)
  t.equal(app.autogenStream.counters.runsStarted, 4, 'the hog and three cancelled runs; never more than maxRunsPerConnection')
  await waitFor(() => app.autogenStream.runs === 0)
  t.equal(app.autogenStream.runs, 0)
})
