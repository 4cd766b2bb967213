import t from 'tap'
import { startServer, Client, waitFor, seqProblems } from './fixtures/server.js'
import { fastRunner, probe } from './fixtures/runners.js'
import { chunk, result } from './fixtures/events.js'
import type { CancelledFrame } from '../lib/index.js'

t.test('cancel: the signal fires, the iterator is returned, cancelled is the last frame', async (t) => {
  const p = probe()
  const { app, url } = await startServer({ runner: fastRunner(p, Infinity, 16) })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  c.send({ type: 'start', runId: 'c1', task: 'x' })
  await c.until(() => c.run('c1').length >= 10)
  c.send({ type: 'cancel', runId: 'c1' })
  const frames = await c.untilEnded('c1')
  const last = frames.at(-1) as CancelledFrame
  t.same({ type: last.type, reason: last.reason }, { type: 'cancelled', reason: 'client' })
  t.same(seqProblems(frames), [], 'seq without gaps up to cancelled')
  await waitFor(() => p.returned)
  t.ok(p.aborted, 'the AbortSignal fired')
  t.equal((p.signalReason as { code?: string }).code, 'AGS_RUN_CANCELLED')
  t.ok(p.returned, "the runner's finally ran: its iterator was returned")

  // Nothing of that run follows its terminal frame, and the connection goes on.
  c.send({ type: 'start', runId: 'c2', task: 'x' })
  await c.until(() => c.run('c2').length >= 3)
  c.send({ type: 'cancel', runId: 'c2' })
  await c.untilEnded('c2')
  t.equal(c.run('c1').length, frames.length, 'no frame of c1 after cancelled')
  t.equal(app.autogenStream.counters.cancels, 2)
})

t.test('cancel reaches a runner that is waiting inside its own await', async (t) => {
  let aborted = false
  let returned = false
  const { app, url } = await startServer({
    runner: async function * (_req, { signal }) {
      try {
        yield chunk('thinking', 'm')
        // A model call that honours the signal, as AutoGen's CancellationToken does.
        await new Promise((_resolve, reject) => signal.addEventListener('abort', () => { aborted = true; reject(signal.reason) }))
        yield result()
      } finally {
        returned = true
      }
    }
  })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  c.send({ type: 'start', runId: 'w', task: 'x' })
  await c.until(() => c.run('w').some((f) => f.type === 'token'))
  c.send({ type: 'cancel', runId: 'w' })
  const frames = await c.untilEnded('w')
  t.same(frames.map((f) => f.type), ['started', 'token', 'cancelled'])
  await waitFor(() => returned)
  t.ok(aborted)
})

t.test('disconnect cancels every run of the connection upstream (onDisconnect \'cancel\')', async (t) => {
  const probes = [probe(), probe()]
  const { app, url } = await startServer({
    onDisconnect: 'cancel',
    runner: async function * (req, ctx) { yield * fastRunner(probes[Number(req.runId)] ?? probe(), Infinity)(req, ctx) }
  })
  t.after(() => app.close())
  const c = await Client.connect(url)
  c.send({ type: 'start', runId: '0', task: 'x' })
  c.send({ type: 'start', runId: '1', task: 'x' })
  await c.until(() => c.run('0').length > 5 && c.run('1').length > 5)
  t.equal(app.autogenStream.runs, 2)
  c.ws.terminate()
  await waitFor(() => probes.every((p) => p.returned))
  t.ok(probes.every((p) => p.aborted), 'both signals fired')
  t.equal((probes[0]?.signalReason as Error).message, 'The run was cancelled (disconnect)')
  await waitFor(() => app.autogenStream.runs === 0 && app.autogenStream.connections === 0)
  t.equal(app.autogenStream.runs, 0, 'the registry let go of both runs')
})

t.test('with the default onDisconnect \'continue\', a disconnect leaves every run of the connection going on, detached', async (t) => {
  const probes = [probe(), probe()]
  const { app, url } = await startServer({
    runner: async function * (req, ctx) { yield * fastRunner(probes[Number(req.runId)] ?? probe(), Infinity)(req, ctx) }
  })
  t.after(() => app.close())
  const c = await Client.connect(url)
  c.send({ type: 'start', runId: '0', task: 'x' })
  c.send({ type: 'start', runId: '1', task: 'x' })
  await c.until(() => c.run('0').length > 5 && c.run('1').length > 5)
  c.ws.terminate()
  await waitFor(() => app.autogenStream.connections === 0)
  t.equal(app.autogenStream.runs, 2)
  t.equal(app.autogenStream.runsDetached, 2, 'both runs are detached, not cancelled')
  t.ok(probes.every((p) => !p.aborted && !p.returned), 'neither signal fired')
})

t.test('a cancel racing the result: exactly one terminal frame', async (t) => {
  const { app, url } = await startServer({ runner: async function * () { yield chunk('x', 'm'); yield result() } })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  for (let i = 0; i < 20; i++) {
    c.send({ type: 'start', runId: `r${i}`, task: 'x' })
    c.send({ type: 'cancel', runId: `r${i}` })
  }
  await c.until(() => Array.from({ length: 20 }, (_, i) => `r${i}`).every((id) => c.run(id).some((f) => ['result', 'cancelled', 'error'].includes(f.type))))
  await new Promise((resolve) => setTimeout(resolve, 50))
  for (let i = 0; i < 20; i++) {
    const frames = c.run(`r${i}`)
    const terminals = frames.filter((f) => ['result', 'cancelled'].includes(f.type))
    t.equal(terminals.length, 1, `r${i}: one terminal frame`)
    t.equal(frames.at(-1), terminals[0], `r${i}: the terminal frame is last`)
  }
})
