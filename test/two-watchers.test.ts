import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import { Client, seqProblems, waitFor } from './fixtures/server.js'
import {
  Gate, connectTracked, expectedTranscript, lastSeqOf, makeScript, mergedTokens, runnerProbe, scriptRunner, startUnixServer,
  transcriptOf
} from './fixtures/resume.js'
import type { AutogenStreamOptions, ServerFrame } from '../lib/index.js'

/*
 * One identity (authenticate() says alice to every connection) starts a run
 * on one connection and watches it from a second one. Both get the same
 * frames. When one of them stops reading, the runner is held at the
 * stalled watcher's position + maxRunLag.events (+ highWaterMark in the
 * run's Readable), so the other one waits there; after stallTimeout the
 * stalled one is to be detached (`lagging`) and the other goes on.
 *
 * On a Unix socket (fixtures/resume.ts): a watcher that stops reading
 * congests the server's socket after ~200 KB; the runs here stream ~1 MB.
 */

const HWM = 16
const LAG = 32
const alice = () => ({ id: 'alice' })
// 4,000 chunks of 100 characters in 10 messages, a TextMessage after each.
const script = makeScript(Array(10).fill(400), 100)

async function serve (t: Test, opts: Partial<AutogenStreamOptions>) {
  const p = runnerProbe()
  const gate = new Gate()
  const { app, url } = await startUnixServer({
    authenticate: alice,
    highWaterMark: HWM,
    maxRunLag: { events: LAG },
    maxBufferedBytes: 1024,
    ...opts,
    runner: scriptRunner(p, script, (i) => (i === 0 ? gate : undefined))
  })
  t.after(() => app.close())
  return { app, url, p, gate }
}

/** Connection 1 starts run r (held before its first item), connection 2 attaches from -1; both were sent `started`. */
async function twoWatchers (t: Test, app: FastifyInstance, url: string) {
  const { client: first, server: firstServer } = await connectTracked(app, url)
  const { client: second, server: secondServer } = await connectTracked(app, url)
  t.after(() => { first.close(); second.close() })
  first.send({ type: 'start', runId: 'r', task: 'x' })
  await first.until(() => first.run('r').length === 1)
  second.send({ type: 'attach', runId: 'r', after: -1 })
  await second.until(() => second.run('r').length === 1)
  t.same(second.frames[0], { type: 'attached', runId: 'r', after: -1, oldestSeq: 0, lastSeq: 0, ended: false }, 'the same identity attaches without a token')
  return { first, second, firstServer, secondServer }
}

/** The first frame of `type` that is no run frame, and the run frames before it. */
function split (c: Client, type: string): { before: ServerFrame[], frame: ServerFrame | undefined } {
  const index = c.frames.findIndex((f) => f.type === type && !('seq' in f))
  const upTo = index === -1 ? c.frames : c.frames.slice(0, index)
  return { before: upTo.filter((f) => 'seq' in f && f.runId === 'r'), frame: index === -1 ? undefined : c.frames[index] }
}

t.test('two connections of one identity watch one run: they receive the same frames', async (t) => {
  const { app, url, gate } = await serve(t, {})
  const { first, second } = await twoWatchers(t, app, url)
  gate.open()
  const one = await first.untilEnded('r')
  const two = await second.untilEnded('r')
  t.same(seqProblems(one), [])
  t.same(seqProblems(two), [])
  t.same(transcriptOf(one), expectedTranscript('r', script), 'the starter: the runner\'s transcript')
  t.same(transcriptOf(two).text, transcriptOf(one).text, 'the same token text per message')
  t.same(transcriptOf(two).frames, transcriptOf(one).frames, 'the same started, event and result frames, seq included')
})

t.test('a watcher that stops reading holds the runner at its position + maxRunLag.events + highWaterMark; the other waits there', async (t) => {
  // stallTimeout 0: nobody is detached or closed for stalling, so the held state lasts until the slow one reads again.
  const { app, url, p, gate } = await serve(t, { stallTimeout: 0 })
  const { first: slow, second: fast, firstServer: slowServer, secondServer: fastServer } = await twoWatchers(t, app, url)
  const listenersBefore = fastServer.listenerCount('close')
  slow.ws.pause()
  gate.open()
  // The slow watcher's socket congested: the kernel takes no more, the server's sender waits.
  await waitFor(() => slowServer.bufferedAmount >= 1024)
  // From now on the slow watcher's position S is fixed. Between turns of
  // the event loop a runner that never waits has filled the run's Readable
  // (HWM items), so p.pulled - HWM is the log's head; the fast watcher has
  // received everything logged exactly when the log can take no more.
  await waitFor(() => lastSeqOf(fast.run('r')) === p.pulled - HWM)
  const head = lastSeqOf(fast.run('r'))
  const pulled = p.pulled
  // A mark in the slow watcher's stream: its answer is written right after the last frame it was sent.
  slow.send({ type: 'list' })
  fast.send({ type: 'list' })
  await fast.until(() => fast.frames.some((f) => f.type === 'runs'))
  t.same(split(fast, 'runs').frame, { type: 'runs', runs: [{ runId: 'r', state: 'running', lastSeq: head, watchers: 2 }] }, 'both still attached, the log\'s head is what the fast one has')
  t.ok(head < script.items.length, 'the run is held mid-way')

  slow.ws.resume()
  const fromSlow = await slow.untilEnded('r')
  const fromFast = await fast.untilEnded('r')
  const mark = split(slow, 'runs')
  const S = lastSeqOf(mark.before)
  t.same(mark.frame, { type: 'runs', runs: [{ runId: 'r', state: 'running', lastSeq: head, watchers: 2 }] })
  t.equal(head - S, LAG, `the fast watcher was held exactly maxRunLag.events ahead of the slow one (seq ${S})`)
  // The bound with its constant: LAG frames logged past S, HWM items in the
  // run's Readable, nothing in flight (the Readable is full, so no next() is
  // pending), and item i is seq i + 1 (seq 0 is `started`), so the items
  // pulled are exactly the log's head + HWM.
  t.equal(pulled, S + LAG + HWM, 'runner pulled = slow position + maxRunLag.events + highWaterMark (+ 0)')
  t.same(transcriptOf(fromSlow), expectedTranscript('r', script), 'the slow watcher gets the whole run')
  t.ok(mergedTokens(fromSlow) > 0, 'what waited for it went out coalesced')
  t.same(seqProblems(fromSlow), [])
  t.same(transcriptOf(fromFast), expectedTranscript('r', script), 'and so does the fast one')
  t.ok(fastServer.listenerCount('close') - listenersBefore <= 1, `the sender keeps at most one 'close' listener per wait: ${fastServer.listenerCount('close') - listenersBefore} were added`)
})

t.test('a watcher stalled for stallTimeout is detached (lagging); the other receives the run to its result', async (t) => {
  const STALL = 1000
  // Retention beyond the whole run, so that the detached watcher can come back from where it stopped.
  const { app, url, p, gate } = await serve(t, { stallTimeout: STALL, closeGrace: 30_000, retainEvents: 10_000, retainBytes: 32 << 20 })
  const { first: slow, second: fast, firstServer: slowServer } = await twoWatchers(t, app, url)
  slow.ws.pause()
  gate.open()
  await waitFor(() => slowServer.bufferedAmount >= 1024)
  await waitFor(() => lastSeqOf(fast.run('r')) === p.pulled - HWM)
  const head = lastSeqOf(fast.run('r'))
  const pulled = p.pulled
  slow.send({ type: 'list' })
  fast.send({ type: 'list' })
  await fast.until(() => fast.frames.some((f) => f.type === 'runs'))
  t.same(split(fast, 'runs').frame, { type: 'runs', runs: [{ runId: 'r', state: 'running', lastSeq: head, watchers: 2 }] },
    'the fast watcher received everything up to the held log\'s head, the slow one still attached')

  // The slow watcher still reads nothing; after stallTimeout the run goes on without it. It
  // reads again as soon as the server has let it go: congested for a further stallTimeout,
  // it would be closed as a slow consumer (on a loaded machine the fast watcher's run alone
  // can take that long).
  while (await watchersOf(fast) !== 1) await new Promise((resolve) => setTimeout(resolve, 20))
  slow.ws.resume()
  const fromFast = await fast.untilEnded('r')
  t.same(seqProblems(fromFast), [])
  t.same(transcriptOf(fromFast), expectedTranscript('r', script), 'the fast watcher receives the run to its result')

  await slow.until(() => split(slow, 'detached').frame !== undefined)
  const mark = split(slow, 'runs')
  const S = lastSeqOf(mark.before)
  t.equal(head - S, LAG, 'while both were attached the log was at most maxRunLag.events ahead of the slow watcher')
  t.equal(pulled, S + LAG + HWM, 'and the runner was pulled up to slow position + maxRunLag.events + highWaterMark')
  t.equal(lastSeqOf(slow.run('r')), S, 'the slow watcher was sent nothing after it stalled')
  const closed = slow.ws.readyState === slow.ws.CLOSED ? await slow.closed : undefined
  t.comment(`the slow watcher got: ${JSON.stringify(split(slow, 'detached').frame ?? null)}, its connection: ${closed === undefined ? 'open' : `closed ${closed.code} "${closed.reason}"`}`)
  t.same({ detached: split(slow, 'detached').frame, open: slow.ws.readyState === slow.ws.OPEN },
    { detached: { type: 'detached', runId: 'r', reason: 'lagging', lastSeq: S }, open: true },
    'it is told it was detached for lagging, on a connection that stays open')

  // Either way it may attach again (a new connection, the same identity) and read the rest.
  const again = await Client.connect(url)
  t.after(() => again.close())
  again.send({ type: 'attach', runId: 'r', after: S })
  await again.until((f) => f.length > 0)
  t.same(again.frames[0], { type: 'attached', runId: 'r', after: S, oldestSeq: 0, lastSeq: script.items.length + 1, ended: true })
  if (again.frames[0]?.type !== 'attached') return
  const rest = await again.untilEnded('r')
  t.same(seqProblems(rest, 'v2', S), [])
  t.same(transcriptOf([...slow.run('r'), ...rest]), expectedTranscript('r', script), 'what it had + the rest is the whole run')
})

/** The watchers of the identity's first run, as a `list` answers. */
async function watchersOf (c: Client): Promise<number | undefined> {
  const answers = (): ServerFrame[] => c.frames.filter((f) => f.type === 'runs')
  const n = answers().length
  c.send({ type: 'list' })
  await c.until(() => answers().length > n)
  const last = answers().at(-1) as { runs: Array<{ watchers: number }> }
  return last.runs[0]?.watchers
}
