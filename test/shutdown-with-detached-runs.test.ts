import t from 'tap'
import { startServer, Client, seqProblems, waitFor } from './fixtures/server.js'
import { fastRunner, probe, type Probe } from './fixtures/runners.js'
import { Gate, makeScript, runnerProbe, scriptRunner } from './fixtures/resume.js'
import type { RunContext, RunRequest } from '../lib/index.js'

/*
 * fastify.close() with runs nobody reads any more and one that a client
 * still reads. Every run is cancelled with reason `shutdown`, attached or
 * not; every runner sees its signal and is done with (its finally block
 * runs), whether it was held by backpressure (suspended at a yield) or
 * waiting on something of its own (a gate that never opens); close()
 * resolves; nothing is left running.
 */

t.test('fastify.close() cancels detached and attached runs alike (reason shutdown) and every runner is done with', async (t) => {
  const held = probe() // detached, held at its plateau: suspended at a yield
  const waiting = runnerProbe() // detached, waiting at a gate that never opens
  const live = probe() // attached, streaming while its client reads
  const never = new Gate()
  const { app, url } = await startServer({
    highWaterMark: 16,
    maxRunLag: { events: 32 },
    runner: (req: RunRequest, ctx: RunContext) => {
      if (req.runId === 'held') return fastRunner(held, Infinity, 16)(req, ctx)
      if (req.runId === 'waiting') return scriptRunner(waiting, makeScript([10]), () => never)(req, ctx)
      return fastRunner(live, Infinity, 16)(req, ctx)
    }
  })
  let closed = false
  t.after(async () => { if (!closed) await app.close() })

  for (const runId of ['held', 'waiting']) {
    const c = await Client.connect(url)
    c.send({ type: 'start', runId, task: 'x' })
    await c.until(() => c.run(runId).length >= (runId === 'held' ? 10 : 1))
    c.ws.terminate()
    await c.closed
  }
  await waitFor(() => app.autogenStream.runsDetached === 2)
  // The held runner stops being pulled at the furthest position sent + 32 + 16.
  await waitFor(() => held.pulled >= 48 && waiting.holding === 0)

  const reader = await Client.connect(url)
  reader.send({ type: 'start', runId: 'live', task: 'x' })
  await reader.until(() => reader.run('live').length >= 100)
  t.equal(app.autogenStream.runs, 3)
  t.equal(app.autogenStream.runsDetached, 2)
  t.equal(app.autogenStream.runsAttached, 1)

  await app.close()
  closed = true

  const shutdown = { code: 'AGS_RUN_CANCELLED', message: 'The run was cancelled (shutdown)' }
  for (const [name, p] of [['held', held], ['waiting', waiting], ['live', live]] as Array<[string, Probe]>) {
    t.ok(p.aborted, `${name}: the runner's signal fired`)
    t.match(p.signalReason, shutdown, `${name}: reason shutdown`)
    t.ok(p.returned, `${name}: the runner's finally block ran`)
  }
  t.equal(waiting.pulled, 0, 'the gated runner never yielded')
  t.equal(app.autogenStream.runs, 0)
  t.equal(app.autogenStream.runsDetached, 0)
  t.equal(app.autogenStream.runsAttached, 0)
  t.equal(app.autogenStream.connections, 0)

  const { code } = await reader.closed
  t.equal(code, 1001, 'the attached client is closed with 1001 (AGS_SHUTDOWN)')
  const frames = reader.run('live')
  t.same(frames.at(-1), { type: 'cancelled', runId: 'live', seq: frames.at(-1)?.seq, reason: 'shutdown' }, 'after its run\'s cancelled frame')
  // Frames it had not been sent are skipped: a gap before `cancelled` is allowed, nothing else.
  const problems = seqProblems(frames)
  t.ok(problems.length === 0 || (problems.length === 1 && problems[0]?.startsWith('cancelled at seq')), `seq problems: ${JSON.stringify(problems)}`)
  t.equal(frames.filter((f) => f.type === 'cancelled').length, 1)
})
