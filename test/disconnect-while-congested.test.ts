import t from 'tap'
import { startServer, Client, waitFor, seqProblems } from './fixtures/server.js'
import { fastRunner, probe } from './fixtures/runners.js'
import type { CancelledFrame } from '../lib/index.js'

// Runs started while the socket is congested have not sent even their
// `started` frame. However the connection ends, they must still end cleanly.

async function congested (opts: Record<string, unknown> = {}) {
  const probes = { flood: probe(), late: probe() }
  const { app, url } = await startServer({
    stallTimeout: 0,
    ...opts,
    runner: (req, ctx) => fastRunner(probes[req.runId as keyof typeof probes], Infinity, 500)(req, ctx)
  })
  const c = await Client.connect(url)
  c.ws.pause()
  c.send({ type: 'start', runId: 'flood', task: 'x' })
  let last = -1
  while (probes.flood.pulled !== last || last === 0) {
    last = probes.flood.pulled
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  c.send({ type: 'start', runId: 'late', task: 'x' })
  await waitFor(() => app.autogenStream.runs === 2)
  return { app, c, probes }
}

t.test('disconnect: a run that never sent `started` still leaves the registry (onDisconnect \'cancel\')', async (t) => {
  const { app, c, probes } = await congested({ onDisconnect: 'cancel' })
  t.after(() => app.close())
  c.ws.terminate()
  await waitFor(() => app.autogenStream.connections === 0)
  await waitFor(() => app.autogenStream.runs === 0)
  t.equal(app.autogenStream.runs, 0)
  await waitFor(() => probes.late.returned && probes.flood.returned)
  t.ok(probes.late.aborted && probes.flood.aborted)
})

t.test('disconnect with the default onDisconnect \'continue\': both runs, sent or not, go on detached', async (t) => {
  const { app, c, probes } = await congested()
  t.after(() => app.close())
  c.ws.terminate()
  await waitFor(() => app.autogenStream.connections === 0)
  t.equal(app.autogenStream.runs, 2)
  t.equal(app.autogenStream.runsDetached, 2, 'detached, not cancelled')
  t.notOk(probes.late.aborted || probes.flood.aborted, 'no signal fired')
})

t.test('shutdown: every run gets started (if it had not) and cancelled before 1001', async (t) => {
  const { app, c } = await congested({ closeGrace: 60_000 })
  const closing = app.close()
  await waitFor(() => app.autogenStream.runs === 0)
  c.ws.resume()
  const closed = await c.closed
  await closing
  t.equal(closed.code, 1001)
  // Each run's terminal frame is written after skipping the frames not sent
  // yet: in v2 a seq gap before `cancelled` is intended. `started` is
  // always a run's first frame (docs/protocol.md), sent or not before.
  const late = c.run('late')
  t.same(late.map((f) => f.type), ['started', 'cancelled'], 'late: started (always a run\'s first frame), then cancelled')
  t.equal(late[0]?.seq, 0, 'late: started is seq 0')
  t.equal((late.at(-1) as CancelledFrame | undefined)?.reason, 'shutdown')
  const flood = c.run('flood')
  t.equal(flood[0]?.type, 'started')
  t.same(seqProblems(flood.slice(0, -1)), [], 'flood: no gap in the frames before the terminal one')
  t.same({ type: flood.at(-1)?.type, reason: (flood.at(-1) as CancelledFrame | undefined)?.reason }, { type: 'cancelled', reason: 'shutdown' })
  t.ok((flood.at(-1)?.seq ?? -1) > (flood.at(-2)?.seq ?? Infinity), 'flood: the terminal frame is last')
})

t.test('a client that sends close and stops reading: its runs are not pulled meanwhile', async (t) => {
  const p = probe()
  const HWM = 64
  const LAG = 16
  // onDisconnect 'cancel': the run ends with its connection (checked at the end).
  const { app, url } = await startServer({ runner: fastRunner(p, Infinity, 16), highWaterMark: HWM, maxRunLag: { events: LAG }, onDisconnect: 'cancel' })
  t.after(() => app.close())
  const c = await Client.connect(url)
  c.send({ type: 'start', runId: 'r', task: 'x' })
  await c.until(() => c.run('r').length > 50)
  // A close frame written by hand, then the client reads nothing more.
  const raw = (c.ws as unknown as { _socket: import('node:net').Socket })._socket
  c.ws.pause()
  raw.write(Buffer.from([0x88, 0x82, 0, 0, 0, 0, 0x03, 0xe8]))
  await waitFor(() => [...app.websocketServer.clients].every((ws) => ws.readyState !== 1))
  const at = p.pulled
  await new Promise((resolve) => setTimeout(resolve, 300))
  // Unsent: at most maxRunLag.events in the run's log, highWaterMark in its Readable, and the step in flight.
  t.ok(p.pulled - at <= HWM + LAG + 2, `pulled ${p.pulled - at} more after the close began (bounded by highWaterMark + maxRunLag.events + 2)`)
  c.ws.terminate()
  await waitFor(() => p.returned)
  t.ok(p.aborted)
})
