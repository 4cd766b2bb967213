import t from 'tap'
import { Client, seqProblems, startServer, waitFor, isTerminal } from './fixtures/server.js'
import { examplesRunner, runStats } from './fixtures/python.js'
import {
  attachWith, attachedFrame, chunksIn, cutWhen, framesAfterAttached, liveStats, tokenText, transcript, untilHeld, untilWorker
} from './fixtures/bridge-resume.js'

/*
 * A run whose only client is gone goes on (onDisconnect 'continue') only
 * up to maxRunLag past what that client was sent; then AutoGen is no
 * longer pulled in Python. Every item pulled from run_stream() is, at any
 * time, in exactly one of these places:
 *
 *   1. in the run's log: seqs 1..head (seq 0 is `started`, not an item;
 *      long_stream has no other frame that is not an item). With nobody
 *      attached the log takes a frame only while head - reached <
 *      maxRunLag.events, where reached is the last seq handed to the socket
 *      of the client that left; so head <= reached + maxRunLag.events.
 *   2. in the Run's Readable (lib/run.ts): _read() pulls only below
 *      highWaterMark, so at most highWaterMark items (the one a pending
 *      next() brings included).
 *   3. between the worker and the Run (lib/python/channel.ts): credit is
 *      granted so that granted-and-not-yet-consumed (in the pipe, or queued
 *      in the channel) never exceeds the credit window.
 *
 * So pulled <= reached + maxRunLag.events + highWaterMark + credit, with
 * no further constant. reached is known exactly from the server's counters:
 * A's connection was the only one, and it was written `started`, the task's
 * TextMessage (seqs 0 and 1) and then only tokens, so reached = 1 + the
 * chunks written (counters.tokens).
 */

const HWM = 16
const CREDIT = 8
const LAG = 32
const WORDS = 20_000
const RETAIN = { retainEvents: 1 << 20, retainBytes: 1 << 30 }

const expectedText = Array.from({ length: WORDS }, (_, i) => `w${i}`).join(' ')

t.test('a detached run holds AutoGen at maxRunLag; a client that attaches with the token reads it to its result', async (t) => {
  const runner = examplesRunner({ credit: CREDIT })
  // detachTimeout 0: this run is never abandoned, however long the machine takes to hold it.
  const { app, url } = await startServer({ runner, highWaterMark: HWM, maxRunLag: { events: LAG }, detachTimeout: 0, stallTimeout: 0, ...RETAIN })
  t.after(() => app.close())
  const s0 = await liveStats(runner)

  const a = await Client.connect(url)
  t.after(() => a.close())
  a.send({ type: 'start', runId: 'held', task: 'x', options: { example: 'long_stream', words: WORDS } })
  const aFrames = await cutWhen(a, 'held', (frames) => chunksIn(frames) >= 100)
  const token = a.tokens.get('held')
  t.type(token, 'string')
  t.notOk(aFrames.some(isTerminal), 'A was cut mid-stream')
  t.same(aFrames.slice(0, 2).map((f) => f.type), ['started', 'event'])
  // The server has closed A's connection: nothing more is written to it.
  await waitFor(() => app.autogenStream.connections === 0)
  t.equal(app.autogenStream.runsDetached, 1, 'the run goes on with nobody attached')
  const reached = 1 + app.autogenStream.counters.tokens
  const lastA = (aFrames.at(-1) as { seq: number }).seq
  t.ok(reached >= lastA, `the server handed A seqs up to ${reached}; A had read up to ${lastA}`)

  // Nothing reads the run: wait until Python stops being pulled (a wait condition only).
  const held = await untilHeld(runner, 'held', () => app.autogenStream.logBytes)
  t.equal(held.credit, 0, 'the held run has no credit left in Python')
  t.ok(held.pulled < WORDS, `Python pulled ${held.pulled} of the ${WORDS + 3} items, then stopped`)
  t.ok(held.pulled <= reached + LAG + HWM + CREDIT,
    `pulled (${held.pulled}) <= reached (${reached}) + maxRunLag.events (${LAG}) + highWaterMark (${HWM}) + credit (${CREDIT})`)
  t.ok(held.pulled >= reached + LAG + HWM,
    `and AutoGen ran ahead as far as the log and the Run's buffer allow: pulled (${held.pulled}) >= reached + maxRunLag.events + highWaterMark`)
  t.equal(app.autogenStream.runs, 1)

  // B attaches with A's token and reads on from A's last seq.
  const b = await attachWith(url, 'held', lastA, token)
  t.after(() => b.close())
  const attached = attachedFrame(b, 'held')
  t.same([b.frames[0]?.type, attached?.after, attached?.ended], ['attached', lastA, false])
  t.equal(attached?.lastSeq, reached + LAG, 'the log stopped exactly maxRunLag.events past the last seq A was sent')
  await b.untilEnded('held')
  const bFrames = framesAfterAttached(b, 'held')
  t.same(b.frames.filter((f) => f.type === 'error' || f.type === 'detached'), [], 'B got no error and was not detached')
  t.same(seqProblems(bFrames, 'v2', lastA), [], "B's frames continue from A's last seq: no seq twice, no gap")
  const joined = [...aFrames, ...bFrames]
  t.same(seqProblems(joined), [])
  const tr = transcript(joined)
  t.equal(tokenText(joined), expectedText, 'every word once, in order')
  t.same(tr.streamed, [{ source: 'assistant', text: expectedText }])
  t.same(tr.events.map((e) => [e.type, e.source, e.content]), [['TextMessage', 'user', 'x'], ['TextMessage', 'assistant', expectedText]])
  t.equal(tr.terminal, 'result')
  t.same(tr.resultMessages?.map((m) => [m.type, m.source, m.content]), [['TextMessage', 'user', 'x'], ['TextMessage', 'assistant', expectedText]])

  // Python ran it to its end: every item pulled once (task, WORDS chunks, answer, TaskResult).
  const s1 = await untilWorker(runner, (s) => s.active === 0)
  t.equal(s1.pulled_total - s0.pulled_total, WORDS + 3)
  t.equal(s1.cancelled.length, s0.cancelled.length, 'not cancelled')
  t.equal(app.autogenStream.runs, 0)
})

t.test('a detached run nobody attaches to within detachTimeout is cancelled (abandoned), in Python too', async (t) => {
  const runner = examplesRunner({ credit: CREDIT })
  const { app, url } = await startServer({ runner, highWaterMark: HWM, maxRunLag: { events: LAG }, detachTimeout: 300, ...RETAIN })
  t.after(() => app.close())
  const s0 = await liveStats(runner)

  const a = await Client.connect(url)
  t.after(() => a.close())
  a.send({ type: 'start', runId: 'left', task: 'x', options: { example: 'long_stream', words: WORDS } })
  const aFrames = await cutWhen(a, 'left', (frames) => chunksIn(frames) >= 100)
  const token = a.tokens.get('left')
  t.notOk(aFrames.some(isTerminal), 'A was cut mid-stream')
  const lastA = (aFrames.at(-1) as { seq: number }).seq

  // Nobody attaches: the run ends on the server, and Python's run ends (cancelled).
  await waitFor(() => app.autogenStream.runs === 0)
  t.equal(app.autogenStream.runsRetained, 1, 'its log is kept for retainAfterEnd')
  const s1 = await untilWorker(runner, (s) => s.active === 0 && s.cancelled.length > s0.cancelled.length)
  t.equal(s1.active, 0, 'Python no longer holds the run')
  t.same(runStats(s1, 'left'), undefined)
  t.equal(s1.cancelled.length, s0.cancelled.length + 1, 'Python cancelled it (its CancellationToken)')
  t.ok(s1.pulled_total - s0.pulled_total < WORDS, 'it was never run to its end')

  // How it ended, read with the token from where A was cut.
  const c = await attachWith(url, 'left', lastA, token)
  t.after(() => c.close())
  const cFrames = await c.untilEnded('left')
  const attached = attachedFrame(c, 'left')
  t.same([c.frames[0]?.type, attached?.after, attached?.ended], ['attached', lastA, true])
  t.equal(framesAfterAttached(c, 'left').length, cFrames.length)
  t.same(seqProblems(cFrames, 'v2', lastA), [], 'the rest of the log, then the terminal frame, without gap')
  const terminal = cFrames.at(-1)
  t.same(terminal, { type: 'cancelled', runId: 'left', seq: attached?.lastSeq, reason: 'abandoned' })
  t.ok(cFrames.slice(0, -1).every((f) => f.type === 'token'), 'only tokens before it')
  const text = tokenText([...aFrames, ...cFrames])
  t.ok(text.length > 0 && expectedText.startsWith(text), 'the words it streamed, in order, none lost or repeated')
})
