import t, { type Test } from 'tap'
import { startServer, Client, seqProblems, waitFor } from './fixtures/server.js'
import {
  Gate, connectTracked, expectedTranscript, lastSeqOf, makeScript, mergedTokens, runnerProbe, scriptRunner, seqOfItem,
  startUnixServer, transcriptOf, untilAnyServerBuffered, type Script
} from './fixtures/resume.js'
import type { AutogenStreamOptions, RunContext, RunRequest, ServerFrame } from '../lib/index.js'

/*
 * A client reads part of a run and its socket is cut (ws.terminate(): no
 * close handshake, frames in flight are lost). The run goes on, detached.
 * A second client attaches with the first one's last seq and its resume
 * token (the first was anonymous: the token is the only way back). What
 * the two received must be exactly what a third client gets from an
 * uninterrupted run of the same runner: token text per message, every
 * other frame, and no seq twice or missing.
 *
 * The runner waits at item HOLD until A is cut (a gate opened by the
 * server side's 'close' of A's socket), so the cut always lands mid-run.
 */

const HWM = 64
const LAG = 256

interface Setup { script: Script, hold: number, opts: Partial<AutogenStreamOptions>, unix?: boolean }

async function serve (t: Test, setup: Setup) {
  const p = runnerProbe()
  const reference = runnerProbe()
  const gate = new Gate()
  const resumed = scriptRunner(p, setup.script, (i) => (i === setup.hold ? gate : undefined))
  const uninterrupted = scriptRunner(reference, setup.script)
  const opts: AutogenStreamOptions = {
    highWaterMark: HWM,
    ...setup.opts,
    runner: (req: RunRequest, ctx: RunContext) => ((req.options as { reference?: boolean }).reference === true ? uninterrupted : resumed)(req, ctx)
  }
  const { app, url } = setup.unix === true ? await startUnixServer(opts) : await startServer(opts)
  t.after(() => app.close())
  return { app, url, p, reference, gate }
}

async function referenceRun (t: Test, url: string, script: Script, app: { autogenStream: { connections: number } }): Promise<ServerFrame[]> {
  const c = await Client.connect(url)
  c.send({ type: 'start', runId: 'r', task: 'x', options: { reference: true } })
  const frames = await c.untilEnded('r')
  c.close()
  await waitFor(() => app.autogenStream.connections === 0)
  t.same(seqProblems(frames), [], 'the uninterrupted run: seq from 0, no gap')
  t.same(transcriptOf(frames), expectedTranscript('r', script), 'the uninterrupted run is what the runner produced')
  return frames
}

t.test('A is cut mid-run; B attaches with A\'s last seq and token; A + B is the uninterrupted transcript', async (t) => {
  // 2,000 chunks over 10 messages, a TextMessage after each.
  const script = makeScript(Array(10).fill(200), 24)
  const HOLD = 600
  const SEEN = 300
  // The bounds this test counts with, given (not the defaults): nothing A was sent is trimmed before B attaches.
  const { app, url, p, gate } = await serve(t, { script, hold: HOLD, opts: { maxRunLag: { events: LAG }, retainEvents: 1024 } })
  const whole = await referenceRun(t, url, script, app)

  const { a, fromA, L } = await startAndCut(app, url, gate, SEEN)
  const token = a.tokens.get('r')
  t.ok(L >= SEEN && L < seqOfItem(HOLD), `A was cut mid-run, after seq ${L}`)
  t.type(token, 'string', 'A got the resume token in its started frame')

  // Nobody reads the run now: it goes on past the hold, up to A's position + maxRunLag.
  await waitFor(() => p.pulled > HOLD)
  t.equal(app.autogenStream.runs, 1)
  t.equal(app.autogenStream.runsDetached, 1, 'the run goes on, detached')
  t.equal(app.autogenStream.runsAttached, 0)
  t.notOk(p.returned, 'the runner is held, not done')
  const pulledWhileDetached = p.pulled

  const b = await Client.connect(url)
  t.after(() => b.close())
  b.send({ type: 'attach', runId: 'r', after: L, resumeToken: token })
  const fromB = await b.untilEnded('r')
  const attached = b.frames[0] as ServerFrame & { type: 'attached', lastSeq: number }
  // A detached run is pulled in microtasks up to the bound, so when the
  // waitFor above saw it move the plateau was reached: the log's head is A's
  // server-side position P + maxRunLag.events, and the run's Readable holds
  // highWaterMark items more.
  const P = attached.lastSeq - LAG
  t.same(attached, { type: 'attached', runId: 'r', after: L, oldestSeq: 0, lastSeq: P + LAG, ended: false })
  t.ok(P >= L && P <= seqOfItem(HOLD) - 1, `the server had sent A up to seq ${P} (A read up to ${L}: ${P - L} frames were in flight)`)
  t.equal(pulledWhileDetached, P + LAG + HWM, 'a detached run is pulled up to maxRunLag.events + highWaterMark beyond the last position read')

  t.same(seqProblems(fromB, 'v2', L), [], 'B\'s frames continue right after A\'s last seq')
  const joined = [...fromA, ...fromB]
  t.same(seqProblems(joined), [], 'A + B: every seq from 0 once, none twice, no gap')
  t.same(transcriptOf(joined), transcriptOf(whole), 'A + B is the uninterrupted transcript: token text per message, events, result')
  t.equal(b.frames.filter((f) => f.type === 'attached').length, 1)
  t.equal(fromB.at(-1)?.type, 'result')
  await waitFor(() => app.autogenStream.runs === 0)
  t.equal(p.pulled, script.items.length)
})

t.test('B reads the replay paused (its socket congested): the replay is coalesced, and A + B is still exact', async (t) => {
  // A Unix socket, so that B's socket congests with ~200 KB unread; the
  // detached run goes on 2,000 frames past A, all of which B replays.
  const script = makeScript(Array(10).fill(600), 100)
  const HOLD = 300
  const SEEN = 100
  const BIG_LAG = 2000
  const { app, url, p, gate } = await serve(t, {
    script, hold: HOLD, unix: true, opts: { maxBufferedBytes: 1024, maxRunLag: { events: BIG_LAG, bytes: 16 << 20 }, stallTimeout: 0 }
  })
  const whole = await referenceRun(t, url, script, app)

  const { a, fromA, L } = await startAndCut(app, url, gate, SEEN)
  await waitFor(() => p.pulled > HOLD + BIG_LAG / 2)
  t.equal(app.autogenStream.runsDetached, 1)

  const b = await Client.connect(url)
  t.after(() => b.close())
  b.ws.pause()
  b.send({ type: 'attach', runId: 'r', after: L, resumeToken: a.tokens.get('r') })
  // B reads nothing: the server's socket fills (kernel buffers, then ws's own).
  await untilAnyServerBuffered(app, 1024)
  b.ws.resume()
  const fromB = await b.untilEnded('r')
  const attached = b.frames[0] as ServerFrame & { type: 'attached', lastSeq: number }
  t.equal(attached.type, 'attached')
  t.equal(attached.after, L)
  const replay = fromB.filter((f) => f.seq <= attached.lastSeq)
  t.ok(mergedTokens(replay) > 0, `the replay went out coalesced: ${replay.length} frames for ${attached.lastSeq - L} seqs`)
  t.same(seqProblems(fromB, 'v2', L), [], 'merged token frames cover seq ranges that follow on exactly')
  const joined = [...fromA, ...fromB]
  t.same(seqProblems(joined), [], 'A + B: every seq from 0 once')
  t.same(transcriptOf(joined), transcriptOf(whole), 'A + B is the uninterrupted transcript')
})

/** Client A starts run r, reads until it has seen seq `seen`, and is cut; the gate opens once the server saw it go. */
async function startAndCut (app: Parameters<typeof connectTracked>[0], url: string, gate: { open: () => void }, seen: number) {
  const { client: a, server: aServer } = await connectTracked(app, url)
  aServer.once('close', () => gate.open())
  a.send({ type: 'start', runId: 'r', task: 'x' })
  await a.until(() => lastSeqOf(a.run('r')) >= seen)
  a.ws.terminate()
  await a.closed
  const fromA = a.run('r')
  return { a, fromA, L: lastSeqOf(fromA) }
}
