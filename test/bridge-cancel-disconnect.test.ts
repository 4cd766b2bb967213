import t from 'tap'
import { Client, isTerminal, seqProblems, startServer, waitFor } from './fixtures/server.js'
import { examplesRunner, workerStats, type WorkerStats } from './fixtures/python.js'
import type { PythonRunner, ServerFrame, TokenFrame } from '../lib/index.js'

/*
 * The upstream proof comes from the worker's own counters, which outlive a
 * run: Python forgets a run (and its `runs[...]` entry) the moment it is
 * cancelled. `pulled_total` counts every item taken from run_stream();
 * `cancelled` grows by one per run whose CancellationToken was cancelled
 * (its length, not its keys: they are whatever id the bridge gives the run).
 */

const CREDIT = 64 // the worker's credit window (set below)
const HWM = 64 // the plugin's default highWaterMark: items a Run buffers ahead of its socket
const LAG = 64 // the plugin's default maxRunLag.events: frames a run's log holds that its reader has not read
const WORDS = 200_000

type RunFrames = Array<ServerFrame & { runId: string, seq: number }>

async function stats (runner: PythonRunner): Promise<WorkerStats> {
  const [s] = await workerStats(runner)
  // A worker that died answers null: fail instead of waiting on it for ever.
  if (s === undefined || s === null) throw new Error(`no live worker: ${JSON.stringify(s)}`)
  return s
}

/**
 * Waits (polling the worker: state, not time) until Python has let go of
 * every run and cancelled one more than `before`, then reads the counters
 * once more: the answer to a stats request sent after that point includes
 * whatever the cancelled run's task pulled before it was cancelled.
 */
async function afterCancel (runner: PythonRunner, before: WorkerStats): Promise<WorkerStats> {
  for (;;) {
    const s = await stats(runner)
    if (s.active === 0 && s.cancelled.length > before.cancelled.length) break
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
  return await stats(runner)
}

/** Items of run_stream() that reached the client: one per chunk of a token frame, one per event. */
function itemsIn (frames: RunFrames): number {
  let n = 0
  for (const f of frames) {
    if (f.type === 'token') n += f.chunks
    else if (f.type === 'event' || f.type === 'result') n++
  }
  return n
}

/** A server on an examples runner (with these plugin options) and one connected client, all closed after the test. */
async function session (t: { after: (fn: () => unknown) => void }, opts: { onDisconnect?: 'cancel' | 'continue' } = {}) {
  const runner = examplesRunner({ credit: CREDIT })
  const { app, url } = await startServer({ runner, ...opts })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  return { runner, app, url, c }
}

t.test('cancel and disconnect cancel the run in Python; the worker keeps serving', async (t) => {
  // onDisconnect 'cancel': a disconnect cancels the run upstream (the default lets it go on, detached: see the next test).
  const { runner, app, url, c } = await session(t, { onDisconnect: 'cancel' })
  const expectedWords = Array.from({ length: WORDS }, (_, i) => `w${i}`).join(' ')

  // Cancel while the model streams.
  const s0 = await stats(runner)
  t.equal(s0.active, 0)
  c.send({ type: 'start', runId: 'mid', task: 'x', options: { example: 'long_stream', words: WORDS } })
  await c.until(() => c.run('mid').filter((f) => f.type === 'token').length > 20)
  c.send({ type: 'cancel', runId: 'mid' })
  const mid = await c.untilEnded('mid')
  t.same(seqProblems(mid), [], 'mid: seq without gaps')
  t.equal(mid[0]?.type, 'started')
  t.same([mid.at(-1)?.type, (mid.at(-1) as { reason?: string }).reason], ['cancelled', 'client'])
  t.same(mid.slice(1, 2).map((f) => f.type === 'event' && f.event.type), ['TextMessage'], 'the task message comes first')
  const midTokens = mid.slice(2, -1)
  t.ok(midTokens.length > 20 && midTokens.every((f) => f.type === 'token'), 'then only tokens, up to cancelled')
  const midText = midTokens.map((f) => (f as TokenFrame).text).join('')
  t.ok(midText.length > 0 && expectedWords.startsWith(midText), 'the words in order, none lost or repeated')
  const s1 = await afterCancel(runner, s0)
  t.equal(s1.active, 0, 'Python no longer holds the run')
  t.equal(s1.cancelled.length, s0.cancelled.length + 1, 'Python cancelled it (its CancellationToken)')
  t.equal(s1.started_total, s0.started_total + 1)
  const midPulled = s1.pulled_total - s0.pulled_total
  const midDelivered = itemsIn(mid)
  t.ok(midPulled >= midDelivered, `Python pulled every item the client got (${midPulled} >= ${midDelivered})`)
  // Credit is granted only as the Run reads: Python can be ahead of the
  // client by at most the credit window plus what the Run buffers.
  t.ok(midPulled <= midDelivered + CREDIT + HWM + 1,
    `AutoGen stopped being pulled: ${midPulled} pulled for ${midDelivered} delivered (of ${WORDS})`)

  // Cancel while the model call is in progress inside AutoGen (no token yet).
  c.send({ type: 'start', runId: 'inside', task: 'x', options: { example: 'slow_agent' } })
  await c.until(() => c.run('inside').some((f) => f.type === 'event'))
  c.send({ type: 'cancel', runId: 'inside' })
  const inside = await c.untilEnded('inside')
  t.same(inside.map((f) => [f.seq, f.type]), [[0, 'started'], [1, 'event'], [2, 'cancelled']])
  t.equal((inside.at(-1) as { reason?: string }).reason, 'client')
  const s2 = await afterCancel(runner, s1)
  t.equal(s2.cancelled.length, s1.cancelled.length + 1, 'Python cancelled the run that was waiting on its model')
  t.equal(s2.started_total, s1.started_total + 1)
  t.equal(s2.pulled_total - s1.pulled_total, 1, 'only the task message was pulled: the model never answered')

  // Disconnect mid-run.
  const d = await Client.connect(url)
  const before = { tokens: app.autogenStream.counters.tokens, frames: app.autogenStream.counters.frames }
  d.send({ type: 'start', runId: 'gone', task: 'x', options: { example: 'long_stream', words: WORDS } })
  await d.until(() => d.run('gone').filter((f) => f.type === 'token').length > 20)
  d.ws.terminate()
  const s3 = await afterCancel(runner, s2)
  t.equal(s3.cancelled.length, s2.cancelled.length + 1, 'a disconnect cancels the Python run')
  t.equal(s3.started_total, s2.started_total + 1)
  // Every item written to d counted once in tokens (per chunk) or frames: an
  // upper bound of what d read. Beyond it: the run's log unread by d (at most
  // maxRunLag.events), the Run's buffer (highWaterMark + 1) and the credit.
  const written = (app.autogenStream.counters.tokens - before.tokens) + (app.autogenStream.counters.frames - before.frames)
  const gonePulled = s3.pulled_total - s2.pulled_total
  t.ok(gonePulled <= written + CREDIT + HWM + LAG + 1, `AutoGen stopped being pulled: ${gonePulled} pulled, ${written} written (of ${WORDS}) <= written + credit + highWaterMark + maxRunLag.events + 1`)
  t.notOk(d.run('gone').some(isTerminal), 'd went away before any terminal frame')

  // The same worker serves the next run to the end.
  c.send({ type: 'start', runId: 'next', task: 'x', options: { example: 'streaming_agent', text: 'still here' } })
  const next = await c.untilEnded('next')
  t.same(seqProblems(next), [], 'next: seq without gaps')
  // Two chunks, in one or two token frames (merged when they reached Node in one batch of lines).
  t.same(next.map((f) => f.type).filter((type, i, all) => type !== 'token' || all[i - 1] !== 'token'), ['started', 'event', 'token', 'event', 'result'])
  t.equal(next.reduce((n, f) => n + (f.type === 'token' ? f.chunks : 0), 0), 2)
  t.equal(next.filter((f): f is TokenFrame => f.type === 'token').map((f) => f.text).join(''), 'still here')
  const s4 = await stats(runner)
  t.equal(s4.active, 0, 'no run is left behind in the worker')
  t.equal(s4.started_total, s3.started_total + 1)
  t.equal(s4.cancelled.length, s3.cancelled.length, 'a run that ends normally is not cancelled')
  t.equal(s4.pulled_total - s3.pulled_total, itemsIn(next),
    'Python pulled exactly the items of the last run: nothing of the cancelled runs is still pulled')

  // Nothing of the cancelled runs reached c after their terminal frames, and nothing else went wrong.
  t.same(c.frames.filter((f) => !('runId' in f)), [], 'no connection error')
  t.equal(c.run('mid').length, mid.length)
  t.equal(c.run('inside').length, inside.length)
  t.equal(app.autogenStream.runs, 0)
})

t.test('with the default onDisconnect \'continue\', a disconnect leaves the Python run going on, detached', async (t) => {
  const { runner, app, c } = await session(t)
  const s0 = await stats(runner)
  c.send({ type: 'start', runId: 'kept', task: 'x', options: { example: 'long_stream', words: WORDS } })
  await c.until(() => c.run('kept').filter((f) => f.type === 'token').length > 20)
  c.ws.terminate()
  await waitFor(() => app.autogenStream.connections === 0)
  t.equal(app.autogenStream.runs, 1)
  t.equal(app.autogenStream.runsDetached, 1, 'the run is detached, not cancelled')
  const s1 = await stats(runner)
  t.equal(s1.active, 1, 'Python still holds the run')
  t.equal(s1.cancelled.length, s0.cancelled.length, 'Python cancelled nothing')
})
