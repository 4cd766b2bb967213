import t from 'tap'
import { startServer, Client, waitFor, seqProblems, isTerminal } from './fixtures/server.js'
import { fastRunner, probe } from './fixtures/runners.js'
import type { CancelledFrame } from '../lib/index.js'

t.test('a client over the byte limit for stallTimeout: runs cancelled (onDisconnect \'cancel\'), close 4008', async (t) => {
  const p = probe()
  const { app, url } = await startServer({ stallTimeout: 300, closeGrace: 60_000, onDisconnect: 'cancel', runner: fastRunner(p, Infinity, 500) })
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
  // The closing connection writes the run's terminal frame after skipping
  // the frames it had not sent: in v2 a seq gap right before it is intended.
  t.same(seqProblems(frames.slice(0, -1)), [], 'seq without gaps up to the terminal frame')
  t.equal(frames.filter(isTerminal).length, 1, 'one terminal frame, the last')
  t.ok(last.seq > (frames.at(-2)?.seq ?? Infinity), 'the terminal frame\'s seq follows every other')
  await waitFor(() => p.returned)
  t.ok(p.returned)
})

t.test('with the default onDisconnect \'continue\', the slow consumer is closed with 4008 and its run goes on, detached', async (t) => {
  const p = probe()
  const { app, url } = await startServer({ stallTimeout: 300, closeGrace: 60_000, runner: fastRunner(p, Infinity, 500) })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  c.ws.pause()
  c.send({ type: 'start', runId: 'slow', task: 'x' })
  // The server starts its close: the socket leaves OPEN.
  await waitFor(() => app.websocketServer.clients.size === 1 && [...app.websocketServer.clients].every((ws) => ws.readyState !== 1))
  c.ws.resume()
  t.equal((await c.closed).code, 4008)
  await waitFor(() => app.autogenStream.connections === 0)
  t.equal(app.autogenStream.runs, 1)
  t.equal(app.autogenStream.runsDetached, 1, 'its run is detached, not cancelled')
  t.notOk(p.aborted, 'the runner was not aborted')
  t.notOk(c.run('slow').some(isTerminal), 'no terminal frame: the run did not end')
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
