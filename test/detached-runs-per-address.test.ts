import t from 'tap'
import { startServer, Client, waitFor } from './fixtures/server.js'
import type { RunContext, RunRequest } from '../lib/index.js'

/*
 * A hostile client without an identity starts runs, drops the socket, opens
 * a new one (a new anonymous identity) and starts more. Runs outlive their
 * connection, so each cycle would leave runs detached, holding server slots
 * and AutoGen, until detachTimeout. They are bounded per client address.
 */
t.test('anonymous clients of one address leave at most maxRunsPerIdentity runs detached: the oldest beyond is abandoned', async (t) => {
  const reasons = new Map<string, string | undefined>()
  const { app, url } = await startServer({
    maxRunsPerIdentity: 6,
    detachTimeout: 0, // never by time: only the per-address bound ends them here
    runner: async function * (req: RunRequest, ctx: RunContext) {
      await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve))
      reasons.set(req.runId, (ctx.signal.reason as { message?: string }).message)
    }
  })
  t.after(() => app.close())

  const CYCLES = 5
  const PER_CONNECTION = 4
  for (let cycle = 0; cycle < CYCLES; cycle++) {
    const c = await Client.connect(url)
    for (let i = 0; i < PER_CONNECTION; i++) c.send({ type: 'start', runId: `c${cycle}r${i}`, task: 'x' })
    await c.until((f) => f.filter((x) => x.type === 'started').length === PER_CONNECTION)
    c.ws.terminate()
    await c.closed
    await waitFor(() => app.autogenStream.connections === 0)
  }
  const total = CYCLES * PER_CONNECTION
  await waitFor(() => reasons.size === total - 6)
  t.equal(app.autogenStream.runsDetached, 6, '6 runs go on detached')
  t.equal(app.autogenStream.runs, 6)
  // The oldest were abandoned, in the order they were left: c0r0 .. c3r1.
  const abandoned = [...reasons.keys()]
  t.same(abandoned, Array.from({ length: total - 6 }, (_, n) => `c${Math.floor(n / PER_CONNECTION)}r${n % PER_CONNECTION}`))
  t.same(new Set(reasons.values()), new Set(['The run was cancelled (abandoned)']))
})

t.test('an authenticated identity is bounded by maxRunsPerIdentity itself: a start beyond it is refused, nothing is abandoned', async (t) => {
  let aborted = 0
  const { app, url } = await startServer({
    maxRunsPerIdentity: 3,
    authenticate: () => ({ id: 'alice' }),
    runner: async function * (_req: RunRequest, ctx: RunContext) {
      await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve))
      aborted++
    }
  })
  t.after(() => app.close())
  const a = await Client.connect(url)
  for (let i = 0; i < 3; i++) a.send({ type: 'start', runId: `r${i}`, task: 'x' })
  await a.until((f) => f.filter((x) => x.type === 'started').length === 3)
  a.ws.terminate()
  await waitFor(() => app.autogenStream.runsDetached === 3)
  const b = await Client.connect(url)
  b.send({ type: 'start', runId: 'r3', task: 'x' })
  await b.until((f) => f.length === 1)
  t.match(b.frames[0], { type: 'error', code: 'AGS_TOO_MANY_RUNS_FOR_IDENTITY' })
  t.equal(aborted, 0, 'no run was cancelled to make room')
  b.send({ type: 'list' })
  await b.until((f) => f.length === 2)
  t.same((b.frames[1] as { runs: Array<{ runId: string, state: string, watchers: number }> }).runs.map((r) => [r.runId, r.state, r.watchers]),
    [['r0', 'running', 0], ['r1', 'running', 0], ['r2', 'running', 0]], 'alice sees her three detached runs')
  b.close()
})
