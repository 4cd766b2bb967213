import t from 'tap'
import { startServer, Client, waitFor } from './fixtures/server.js'
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

t.test('disconnect: a run that never sent `started` still leaves the registry', async (t) => {
  const { app, c, probes } = await congested()
  t.after(() => app.close())
  c.ws.terminate()
  await waitFor(() => app.autogenStream.connections === 0)
  await waitFor(() => app.autogenStream.runs === 0)
  t.equal(app.autogenStream.runs, 0)
  await waitFor(() => probes.late.returned && probes.flood.returned)
  t.ok(probes.late.aborted && probes.flood.aborted)
})

t.test('shutdown: every run gets started (if it had not) and cancelled before 1001', async (t) => {
  const { app, c } = await congested({ closeGrace: 60_000 })
  const closing = app.close()
  await waitFor(() => app.autogenStream.runs === 0)
  c.ws.resume()
  const closed = await c.closed
  await closing
  t.equal(closed.code, 1001)
  const late = c.run('late')
  t.same(late.map((f) => f.type), ['started', 'cancelled'])
  t.same(late.map((f) => f.seq), [0, 1])
  t.equal((late[1] as CancelledFrame).reason, 'shutdown')
  t.equal(c.run('flood').at(-1)?.type, 'cancelled')
})

t.test('a client that sends close and stops reading: its runs are not pulled meanwhile', async (t) => {
  const p = probe()
  const { app, url } = await startServer({ runner: fastRunner(p, Infinity, 16) })
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
  t.ok(p.pulled - at <= 64 + 2, `pulled ${p.pulled - at} more after the close began (bounded by highWaterMark)`)
  c.ws.terminate()
  await waitFor(() => p.returned)
  t.ok(p.aborted)
})
