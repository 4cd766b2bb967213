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
  t.same(new Set(reasons.values()), new Set(['The run was cancelled (abandoned)']))
  // Each time, the oldest run of whoever (which connection) had the most detached was abandoned.
  const survivors = Array.from({ length: total }, (_, n) => `c${Math.floor(n / PER_CONNECTION)}r${n % PER_CONNECTION}`).filter((id) => !reasons.has(id))
  const perConnection = [0, 1, 2, 3, 4].map((c) => survivors.filter((id) => id.startsWith(`c${c}r`)).length)
  t.same(perConnection, [1, 1, 1, 1, 2], `the survivors are spread over the connections: ${survivors.join(' ')}`)
  t.same(survivors, ['c0r3', 'c1r3', 'c2r3', 'c3r3', 'c4r2', 'c4r3'], 'and they are the newest of each')
})

t.test('one anonymous client behind an address cannot push another\'s detached run out: the one with the most pays', async (t) => {
  const reasons = new Map<string, string | undefined>()
  const { app, url } = await startServer({
    maxRunsPerIdentity: 4,
    detachTimeout: 0,
    runner: async function * (req: RunRequest, ctx: RunContext) {
      await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve))
      reasons.set(req.runId, (ctx.signal.reason as { message?: string }).message)
    }
  })
  t.after(() => app.close())
  const victim = await Client.connect(url)
  victim.send({ type: 'start', runId: 'victim', task: 'x' })
  await victim.until((f) => f.length === 1)
  const token = victim.tokens.get('victim')
  victim.ws.terminate()
  await waitFor(() => app.autogenStream.runsDetached === 1)
  // The attacker leaves 4 runs at a time, 3 times, from new connections (new anonymous identities) on the same address.
  for (let cycle = 0; cycle < 3; cycle++) {
    const c = await Client.connect(url)
    for (let i = 0; i < 4; i++) c.send({ type: 'start', runId: `a${cycle}r${i}`, task: 'x' })
    await c.until((f) => f.filter((x) => x.type === 'started').length === 4)
    c.ws.terminate()
    await c.closed
    await waitFor(() => app.autogenStream.connections === 0)
  }
  await waitFor(() => reasons.size === 9)
  t.notOk(reasons.has('victim'), 'the victim\'s run was not abandoned')
  t.equal(app.autogenStream.runsDetached, 4)
  const back = await Client.connect(url)
  t.after(() => back.close())
  back.send({ type: 'attach', runId: 'victim', after: 0, resumeToken: token })
  await back.until((f) => f.length === 1)
  t.match(back.frames[0], { type: 'attached', runId: 'victim', after: 0, ended: false }, 'and it can be resumed')
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
