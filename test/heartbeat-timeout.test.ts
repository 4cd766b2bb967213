import t from 'tap'
import { startServer, Client, waitFor } from './fixtures/server.js'
import { fastRunner, probe } from './fixtures/runners.js'

t.test('a peer that misses two pongs is terminated and its runs cancelled', async (t) => {
  const p = probe()
  const { app, url } = await startServer({ pingInterval: 30, runner: fastRunner(p, Infinity) })
  t.after(() => app.close())
  // autoPong off: this client receives pings and never answers.
  const dead = await Client.connect(url, { autoPong: false })
  let pings = 0
  dead.ws.on('ping', () => { pings++ })
  dead.send({ type: 'start', runId: 'hb', task: 'x' })
  const alive = await Client.connect(url)
  t.after(() => alive.close())

  const { code } = await dead.closed
  t.equal(code, 1006, 'terminated without a close frame')
  t.equal(pings, 2, 'two pings went unanswered, the third tick terminated it')
  await waitFor(() => p.returned)
  t.ok(p.aborted, 'its run was cancelled upstream')
  t.equal(p.signalReason instanceof Error && (p.signalReason as Error).message, 'The run was cancelled (heartbeat)')

  // The peer that answers pings stays, through more than three intervals.
  const before = app.autogenStream.connections
  await new Promise((resolve) => setTimeout(resolve, 150))
  t.equal(app.autogenStream.connections, before)
  t.equal(alive.ws.readyState, alive.ws.OPEN)
})
