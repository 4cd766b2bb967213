import t, { type Test } from 'tap'
import type { FastifyRequest } from 'fastify'
import { startServer, Client, seqProblems, waitFor } from './fixtures/server.js'
import { Gate, expectedTranscript, makeScript, runnerProbe, scriptRunner, transcriptOf, type RunnerProbe } from './fixtures/resume.js'
import type { AutogenStreamOptions, AutoGenEvent, RunContext, RunRequest, ServerFrame } from '../lib/index.js'

/*
 * Who may attach to a run, and what every refusal looks like. Runs here
 * stream 10 chunks of one message and wait at a gate before the 6th, so
 * while held their log holds seqs 0..5 (started, 5 tokens); once the gate
 * opens they end with a result at seq 11.
 */

const script = makeScript([10], 8, false)
const HOLD = 5

/** Identities from the x-user header (no header: refused with 401). */
function byHeader (request: FastifyRequest): { id: string } | null {
  const user = request.headers['x-user']
  return typeof user === 'string' ? { id: user } : null
}

const as = (user: string) => ({ headers: { 'x-user': user } })

async function serve (t: Test, opts: Partial<AutogenStreamOptions> = {}) {
  const probes = new Map<string, RunnerProbe>()
  const gates = new Map<string, Gate>()
  const gate = (runId: string): Gate => {
    let g = gates.get(runId)
    if (g === undefined) gates.set(runId, g = new Gate())
    return g
  }
  const options: AutogenStreamOptions = {
    ...opts,
    runner: (req: RunRequest, ctx: RunContext) => {
      const p = runnerProbe()
      probes.set(req.runId, p)
      return scriptRunner(p, script, (i) => (i === HOLD ? gate(req.runId) : undefined))(req, ctx)
    }
  }
  const { app, url } = await startServer(options)
  t.after(() => app.close())
  return { app, url, probes, gate }
}

/** Connects; closed after the test. */
async function connect (t: Test, url: string, options?: ConstructorParameters<typeof Client>[1]): Promise<Client> {
  const c = await Client.connect(url, options)
  t.after(() => c.close())
  return c
}

/** Frames that are not a run's (no seq): errors about client frames, attached, detached, runs. */
function answers (c: Client): ServerFrame[] {
  return c.frames.filter((f) => !('seq' in f))
}

/** Sends a frame and resolves with the next frame that is no run's (the answer to it). */
async function ask (c: Client, frame: unknown): Promise<ServerFrame> {
  const n = answers(c).length
  c.send(frame)
  await c.until(() => answers(c).length > n)
  return answers(c)[n] as ServerFrame
}

/** Starts a run and waits until its log is held at the gate and this client was sent all of it (seqs 0..5). */
async function startHeld (c: Client, runId: string): Promise<void> {
  c.send({ type: 'start', runId, task: 'x' })
  await c.until(() => c.run(runId).at(-1)?.seq === HOLD)
}

const unknownRun = (runId: string) => ({ type: 'error', code: 'AGS_UNKNOWN_RUN', message: `No run "${runId}" for this connection`, ref: { type: 'attach', runId } })

t.test('refused alike: a wrong token, another identity without token, a run that does not exist; the right token works for anyone', async (t) => {
  // One frame per chunk: alice's first three frames are then seqs 0..2, the part bob skips.
  const { url, gate } = await serve(t, { authenticate: byHeader, coalesceTokens: false })
  const alice = await connect(t, url, as('alice'))
  await startHeld(alice, 'r1')
  const token = alice.tokens.get('r1') as string
  t.equal(token.length, 32)

  const bob = await connect(t, url, as('bob'))
  const refusals = {
    noToken: await ask(bob, { type: 'attach', runId: 'r1', after: -1 }),
    wrongToken: await ask(bob, { type: 'attach', runId: 'r1', after: -1, resumeToken: 'A'.repeat(32) }),
    shortToken: await ask(bob, { type: 'attach', runId: 'r1', after: -1, resumeToken: 'nope' }),
    noSuchRun: await ask(bob, { type: 'attach', runId: 'r2', after: -1 }),
    noSuchRunWithAToken: await ask(bob, { type: 'attach', runId: 'r2', after: -1, resumeToken: token })
  }
  t.same(refusals.noToken, unknownRun('r1'), 'another identity without the token: AGS_UNKNOWN_RUN')
  t.same(refusals.wrongToken, unknownRun('r1'), 'a wrong token: the same')
  t.same(refusals.shortToken, unknownRun('r1'), 'a token of another length: the same')
  t.same(refusals.noSuchRun, unknownRun('r2'), 'a run that does not exist: the same code and message')
  t.same(refusals.noSuchRunWithAToken, unknownRun('r2'), 'another run\'s token: the same')
  t.equal(JSON.stringify(refusals.noSuchRun), JSON.stringify(refusals.noToken).replaceAll('"r1', '"r2'),
    'byte for byte the same answer but for the runId: no oracle of which runs exist')
  t.same(bob.run('r1'), [], 'bob was sent nothing of the run')

  const attached = await ask(bob, { type: 'attach', runId: 'r1', after: 2, resumeToken: token })
  t.same(attached, { type: 'attached', runId: 'r1', after: 2, oldestSeq: 0, lastSeq: HOLD, ended: false }, 'the token works from another identity')
  gate('r1').open()
  const bobs = await bob.untilEnded('r1')
  t.same(seqProblems(bobs, 'v2', 2), [], 'bob reads from seq 3 on')
  t.same(transcriptOf([...alice.run('r1').slice(0, 3), ...bobs]), expectedTranscript('r1', script))
  t.same(transcriptOf(await alice.untilEnded('r1')), expectedTranscript('r1', script), 'alice reads on as before')
})

t.test('attach to a run this connection already reads: AGS_ALREADY_ATTACHED; after beyond the last seq: AGS_BAD_FRAME', async (t) => {
  const { url } = await serve(t, { authenticate: byHeader })
  const alice = await connect(t, url, as('alice'))
  await startHeld(alice, 'r')
  const already = { type: 'error', code: 'AGS_ALREADY_ATTACHED', message: 'This connection already reads a run "r"; detach it first', ref: { type: 'attach', runId: 'r' } }
  t.same(await ask(alice, { type: 'attach', runId: 'r', after: -1 }), already, 'the starting connection reads it already')

  const tab = await connect(t, url, as('alice'))
  t.same(await ask(tab, { type: 'attach', runId: 'r', after: 99 }),
    { type: 'error', code: 'AGS_BAD_FRAME', message: 'Invalid frame: attach: after (99) is beyond the run\'s last seq (5)', ref: { type: 'attach', runId: 'r' } })
  t.same(await ask(tab, { type: 'attach', runId: 'r', after: HOLD }), { type: 'attached', runId: 'r', after: HOLD, oldestSeq: 0, lastSeq: HOLD, ended: false },
    'the same identity needs no token; after = lastSeq is allowed')
  t.same(await ask(tab, { type: 'attach', runId: 'r', after: -1 }), already, 'a second attach on the same connection')
  t.same(tab.run('r'), [], 'attached at the head: nothing to replay')
})

t.test('maxWatchersPerRun: one attach too many gets AGS_TOO_MANY_WATCHERS and nothing else', async (t) => {
  const { url } = await serve(t, { authenticate: byHeader, maxWatchersPerRun: 2 })
  const alice = await connect(t, url, as('alice'))
  await startHeld(alice, 'r')
  const second = await connect(t, url, as('alice'))
  t.equal((await ask(second, { type: 'attach', runId: 'r', after: -1 })).type, 'attached')
  const third = await connect(t, url, as('alice'))
  t.same(await ask(third, { type: 'attach', runId: 'r', after: -1 }),
    { type: 'error', code: 'AGS_TOO_MANY_WATCHERS', message: 'Run "r" has 2 connections attached (maxWatchersPerRun)', ref: { type: 'attach', runId: 'r' } })
  t.same(third.frames.map((f) => f.type), ['error'], 'the refused connection got the error only: no attached frame, no run frame')
  t.same(await ask(second, { type: 'detach', runId: 'r' }), { type: 'detached', runId: 'r', reason: 'client', lastSeq: HOLD })
  t.same(await ask(third, { type: 'attach', runId: 'r', after: -1 }), { type: 'attached', runId: 'r', after: -1, oldestSeq: 0, lastSeq: HOLD, ended: false },
    'a place is free once one detached')
})

t.test('a position older than what is kept: AGS_RESUME_GAP with oldestSeq and lastSeq, and the terminal frame once the run ended', async (t) => {
  const { url, gate, app } = await serve(t, { authenticate: byHeader, retainEvents: 0, retainBytes: 0 })
  const alice = await connect(t, url, as('alice'))
  await startHeld(alice, 'r')
  const token = alice.tokens.get('r') as string
  // alice was sent seqs 0..5: with nothing retained, all of them are trimmed.
  const bob = await connect(t, url, as('bob'))
  t.same(await ask(bob, { type: 'attach', runId: 'r', after: 0, resumeToken: token }), {
    type: 'error',
    code: 'AGS_RESUME_GAP',
    message: 'Run "r" no longer keeps the frames after seq 0: the oldest kept is 6',
    ref: { type: 'attach', runId: 'r' },
    oldestSeq: 6,
    lastSeq: 5
  }, 'no terminal while the run goes on')
  t.same(bob.frames.map((f) => f.type), ['error'], 'no attached frame before the error')
  t.same(await ask(bob, { type: 'attach', runId: 'r', after: 5, resumeToken: token }), { type: 'attached', runId: 'r', after: 5, oldestSeq: 6, lastSeq: 5, ended: false },
    'after = oldestSeq - 1 is what is kept (nothing yet)')

  gate('r').open()
  const all = await alice.untilEnded('r')
  const bobs = await bob.untilEnded('r')
  t.same(seqProblems(bobs, 'v2', 5), [])
  const terminal = all.at(-1)
  t.same(terminal, { type: 'result', runId: 'r', seq: 11, result: script.result })
  await waitFor(() => app.autogenStream.runs === 0)

  const carol = await connect(t, url, as('carol'))
  t.same(await ask(carol, { type: 'attach', runId: 'r', after: 0, resumeToken: token }), {
    type: 'error',
    code: 'AGS_RESUME_GAP',
    message: 'Run "r" no longer keeps the frames after seq 0: the oldest kept is 11',
    ref: { type: 'attach', runId: 'r' },
    oldestSeq: 11,
    lastSeq: 11,
    terminal
  }, 'an ended run tells how it ended')
  t.same(await ask(carol, { type: 'attach', runId: 'r', after: 10, resumeToken: token }), { type: 'attached', runId: 'r', after: 10, oldestSeq: 11, lastSeq: 11, ended: true })
  t.same(await carol.untilEnded('r'), [terminal], 'the terminal frame is always kept')
})

t.test('list: each identity sees its own runs; an anonymous connection only those it started', async (t) => {
  const { url, gate } = await serve(t, { authenticate: byHeader })
  const alice = await connect(t, url, as('alice'))
  const bob = await connect(t, url, as('bob'))
  await startHeld(alice, 'a1')
  await startHeld(bob, 'b1')
  await startHeld(bob, 'b2')
  t.same(await ask(alice, { type: 'list' }), { type: 'runs', runs: [{ runId: 'a1', state: 'running', lastSeq: HOLD, watchers: 1 }] })
  const bobTab = await connect(t, url, as('bob'))
  t.same(await ask(bobTab, { type: 'list' }), {
    type: 'runs',
    runs: [{ runId: 'b1', state: 'running', lastSeq: HOLD, watchers: 1 }, { runId: 'b2', state: 'running', lastSeq: HOLD, watchers: 1 }]
  }, 'another connection of bob\'s sees bob\'s runs, and only them')
  gate('a1').open()
  await alice.untilEnded('a1')
  t.same(await ask(alice, { type: 'list' }), { type: 'runs', runs: [{ runId: 'a1', state: 'ended', lastSeq: 11, watchers: 0, outcome: 'result' }] },
    'an ended run is listed while it is kept')
  for (const runId of ['b1', 'b2']) gate(runId).open()
  await bob.untilEnded('b2')
})

t.test('list on anonymous connections: each sees only the runs it started', async (t) => {
  const { url } = await serve(t)
  const one = await connect(t, url)
  const two = await connect(t, url)
  const three = await connect(t, url)
  await startHeld(one, 'x')
  await startHeld(two, 'y')
  t.same(await ask(one, { type: 'list' }), { type: 'runs', runs: [{ runId: 'x', state: 'running', lastSeq: HOLD, watchers: 1 }] })
  t.same(await ask(two, { type: 'list' }), { type: 'runs', runs: [{ runId: 'y', state: 'running', lastSeq: HOLD, watchers: 1 }] })
  t.same(await ask(three, { type: 'list' }), { type: 'runs', runs: [] })
})

t.test('detach: answered with detached at the last seq sent; the run goes on; attaching again later finishes it', async (t) => {
  const { url, gate, app, probes } = await serve(t, { authenticate: byHeader })
  const alice = await connect(t, url, as('alice'))
  await startHeld(alice, 'r')
  t.same(await ask(alice, { type: 'detach', runId: 'r' }), { type: 'detached', runId: 'r', reason: 'client', lastSeq: HOLD })
  const before = alice.run('r')
  t.equal(before.at(-1)?.seq, HOLD, 'the frames before `detached` end at its lastSeq')
  t.equal(app.autogenStream.runsDetached, 1, 'detached, not cancelled')
  t.same(await ask(alice, { type: 'detach', runId: 'r' }), { type: 'error', code: 'AGS_UNKNOWN_RUN', message: 'No run "r" for this connection', ref: { type: 'detach', runId: 'r' } },
    'detaching twice: this connection no longer reads it')

  gate('r').open()
  // Nobody reads it: it goes on to its end (10 chunks are well under maxRunLag).
  await waitFor(() => app.autogenStream.runs === 0)
  t.ok(probes.get('r')?.returned, 'the runner finished while detached')
  t.same(alice.run('r'), before, 'nothing was sent to the detached connection')

  t.same(await ask(alice, { type: 'attach', runId: 'r', after: HOLD }), { type: 'attached', runId: 'r', after: HOLD, oldestSeq: 0, lastSeq: 11, ended: true })
  const frames = await alice.untilEnded('r')
  t.same(seqProblems(frames), [], 'what it had, then the rest: each seq once')
  t.same(transcriptOf(frames), expectedTranscript('r', script))
})

t.test('a pending input_request is sent again (resent) to a connection that attaches after it; the first input wins', async (t) => {
  const after = new Gate()
  const event = (content: string): AutoGenEvent => ({ id: 'u', source: 'user', models_usage: null, metadata: {}, created_at: '2026-01-01T00:00:00Z', content, type: 'TextMessage' } as AutoGenEvent)
  const { app, url } = await startServer({
    authenticate: byHeader,
    runner: async function * (_req: RunRequest, ctx: RunContext): AsyncGenerator<AutoGenEvent> {
      yield script.items[0] as AutoGenEvent
      const answer = await ctx.requestInput('Approve?', { requestId: 'q1' })
      yield event(`user said ${answer}`)
      await after.wait(ctx.signal)
      yield script.result
    }
  })
  t.after(() => app.close())
  const first = await connect(t, url, as('alice'))
  first.send({ type: 'start', runId: 'h', task: 'x' })
  await first.until(() => first.run('h').some((f) => f.type === 'input_request'))
  const request = { type: 'input_request', runId: 'h', seq: 2, requestId: 'q1', prompt: 'Approve?' }
  t.same(first.run('h')[2], request)

  const late = await connect(t, url, as('alice'))
  t.same(await ask(late, { type: 'attach', runId: 'h', after: 2 }), { type: 'attached', runId: 'h', after: 2, oldestSeq: 0, lastSeq: 2, ended: false })
  await late.until(() => late.run('h').length > 0)
  t.same(late.run('h'), [{ ...request, resent: true }], 'attached after its seq: the pending request is sent again, with its seq and resent: true')
  const fromStart = await connect(t, url, as('alice'))
  fromStart.send({ type: 'attach', runId: 'h', after: -1 })
  await fromStart.until(() => fromStart.run('h').length === 3)
  t.same(fromStart.run('h').filter((f) => f.type === 'input_request'), [request], 'attached before it: the request once, in the replay, not resent')

  late.send({ type: 'input', runId: 'h', requestId: 'q1', content: 'yes' })
  const answered = { type: 'event', runId: 'h', seq: 3, event: event('user said yes') }
  for (const c of [first, late, fromStart]) await c.until(() => c.run('h').some((f) => f.seq === 3))
  t.same(first.run('h')[3], answered, 'the first input wins')
  t.same(await ask(first, { type: 'input', runId: 'h', requestId: 'q1', content: 'no' }),
    { type: 'error', code: 'AGS_UNKNOWN_REQUEST', message: 'Run "h" is not waiting for input "q1"', ref: { type: 'input', runId: 'h', requestId: 'q1' } },
    'a second input, from another connection: AGS_UNKNOWN_REQUEST')
  after.open()
  for (const c of [first, late, fromStart]) {
    const frames = await c.untilEnded('h')
    t.same(frames.at(-1), { type: 'result', runId: 'h', seq: 4, result: script.result })
    t.same(frames.filter((f) => f.type === 'event'), [answered])
  }
})

t.test('a v1 connection cannot attach, detach or list: AGS_BAD_FRAME', async (t) => {
  const { url } = await serve(t)
  const v1 = await connect(t, url, { protocols: ['autogen-stream.v1'] })
  const expected = 'unknown frame type "%s" in autogen-stream.v1; expected "start", "cancel", "stop" or "input"'
  const frames: Array<{ type: string, runId?: string, after?: number }> = [{ type: 'attach', runId: 'r', after: -1 }, { type: 'detach', runId: 'r' }, { type: 'list' }]
  for (const frame of frames) {
    const answer = await ask(v1, frame)
    const ref = frame.runId === undefined ? { type: frame.type } : { type: frame.type, runId: frame.runId }
    t.same(answer, { type: 'error', code: 'AGS_BAD_FRAME', message: `Invalid frame: ${expected.replace('%s', frame.type)}`, ref }, frame.type)
  }
})
