import t from 'tap'
import WebSocket from 'ws'
import { startServer, Client, untilServerBuffered } from './fixtures/server.js'
import { fastRunner, probe } from './fixtures/runners.js'
import { PROTOCOL } from '../lib/index.js'

// fastify.close() answers a request that arrives while it closes with 503
// itself, before any hook; for an upgrade request that left the socket open
// and close() waiting for it for ever (and runner.close() never called).
t.test('a client that connects while the server closes gets refused, and close() still finishes', async (t) => {
  const p = probe()
  let runnerClosed = false
  const { app, url } = await startServer({
    runner: { run: fastRunner(p, Infinity), close: () => { runnerClosed = true } },
    maxBufferedBytes: 1024,
    stallTimeout: 0,
    closeGrace: 60_000 // the first client does not read: closing waits on it until it is cut (below)
  })
  const stalled = await Client.connect(url)
  stalled.ws.pause()
  stalled.send({ type: 'start', runId: 'r', task: 'x' })
  await untilServerBuffered(app, 1024)

  const closing = app.close()
  // While preClose waits for the stalled client's close handshake:
  const late = new WebSocket(url, [PROTOCOL])
  const refused = await new Promise<string>((resolve) => {
    late.once('unexpected-response', (_req, res) => resolve(`HTTP ${res.statusCode}`))
    late.once('open', () => resolve('open'))
    late.once('error', (err) => resolve(`error ${err.message}`))
  })
  t.equal(refused, 'HTTP 503', 'the late client is refused')
  late.terminate()
  stalled.ws.terminate() // lets preClose finish
  await closing
  t.ok(runnerClosed, 'close() finished and closed the runner')
  t.equal(app.autogenStream.connections, 0)
})
