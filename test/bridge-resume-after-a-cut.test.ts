import t, { type Test } from 'tap'
import { Client, seqProblems, startServer, waitFor, isTerminal } from './fixtures/server.js'
import { examplesRunner } from './fixtures/python.js'
import {
  attachWith, attachedFrame, chunksIn, cutWhen, framesAfterAttached, streamedMessageProblems, tokenText, transcript, untilHeld,
  type RunFrames
} from './fixtures/bridge-resume.js'
import type { EventFrame } from '../lib/index.js'

/*
 * A run read by client A, cut (ws.terminate()) mid-stream, then read on by
 * client B, which attaches with A's last seq and A's resume token, gives
 * exactly the run an uninterrupted client sees: A's frames plus B's frames
 * after its `attached` frame are one gapless sequence of seqs, and make the
 * same transcript as a reference run of the same team and task.
 *
 * The logs keep every entry already read (retainEvents/retainBytes far
 * above the run's size): what A had been sent but not yet received when it
 * was cut (socket buffers) must still be there for B, however many frames
 * that is on a loaded machine. A resume older than what is kept is
 * AGS_RESUME_GAP by design, which is not what this test is about.
 */

const WORDS = 3000 // per streamed message: thousands of chunks, far more than maxRunLag (256) holds
const MAX_RUN_LAG = 256 // maxRunLag.events, given (the default is 64)
const RETAIN = { retainEvents: 1 << 20, retainBytes: 1 << 30 }

const words = (prefix: string): string => Array.from({ length: WORDS }, (_, i) => `${prefix}${i}`).join(' ')

/** Runs the team uninterrupted on its own client: the transcript to match. */
async function reference (t: Test, url: string, example: string, task: string): Promise<RunFrames> {
  const ref = await Client.connect(url)
  t.after(() => ref.close())
  ref.send({ type: 'start', runId: 'reference', task, options: { example, words: WORDS } })
  const frames = await ref.untilEnded('reference')
  t.same(seqProblems(frames), [], 'the reference run: every seq once, no gap')
  t.same(streamedMessageProblems(frames), [], 'the reference run: each streamed text is its message')
  return frames
}

/**
 * Starts the team on A, cuts A when `cutAt` holds, attaches B with A's last
 * seq and token, reads the run to its end on B, and checks the joined
 * frames against the reference.
 */
async function cutAndResume (t: Test, example: string, task: string, cutAt: (frames: RunFrames) => boolean): Promise<{ a: RunFrames, b: RunFrames, joined: RunFrames, ref: RunFrames }> {
  const runner = examplesRunner()
  const { app, url } = await startServer({ runner, maxRunLag: { events: MAX_RUN_LAG }, ...RETAIN })
  t.after(() => app.close())
  const ref = await reference(t, url, example, task)

  const a = await Client.connect(url)
  t.after(() => a.close())
  a.send({ type: 'start', runId: 'cut', task, options: { example, words: WORDS } })
  const aFrames = await cutWhen(a, 'cut', cutAt)
  const token = a.tokens.get('cut')
  t.type(token, 'string', 'A got the resume token with its started frame')
  t.notOk(aFrames.some(isTerminal), 'A was cut before the run ended')
  // The server has seen A go: the run goes on with nobody attached, until
  // it is held at maxRunLag (256 entries past what A was sent; far from its end).
  await waitFor(() => app.autogenStream.runsDetached === 1)
  await untilHeld(runner, 'cut', () => app.autogenStream.logBytes)
  const lastA = (aFrames.at(-1) as RunFrames[number]).seq

  const b = await attachWith(url, 'cut', lastA, token)
  t.after(() => b.close())
  const bAll = await b.untilEnded('cut')
  t.equal(b.frames[0]?.type, 'attached', "B's first frame is `attached`")
  const attached = attachedFrame(b, 'cut')
  t.same([attached?.runId, attached?.after, attached?.ended], ['cut', lastA, false], 'attached from A\'s last seq, the run not ended')
  t.ok((attached?.lastSeq ?? -1) >= lastA + MAX_RUN_LAG,
    `the detached run went on while nobody read it: attached.lastSeq (${attached?.lastSeq}) >= A's last seq (${lastA}) + maxRunLag.events`)
  const bFrames = framesAfterAttached(b, 'cut')
  t.equal(bFrames.length, bAll.length, 'every frame of the run on B came after `attached`')
  t.same(b.frames.filter((f) => f.type === 'error' || f.type === 'detached'), [], 'B got no error and was not detached')
  t.same(seqProblems(bFrames, 'v2', lastA), [], "B's frames continue from A's last seq: no seq twice, no gap")
  const joined = [...aFrames, ...bFrames]
  t.same(seqProblems(joined), [], 'A then B: every seq of the run once, from 0, no gap')
  t.equal(joined.at(-1)?.type, 'result')
  t.same(streamedMessageProblems(joined), [], 'A then B: each streamed text is its message')
  t.same(transcript(joined), transcript(ref), 'A then B give the transcript of the uninterrupted run')
  return { a: aFrames, b: bFrames, joined, ref }
}

t.test('a long streamed team answer: cut mid-stream, resumed on another client with the token', async (t) => {
  const { a, b, joined, ref } = await cutAndResume(t, 'long_team', 'Write and review',
    (frames) => chunksIn(frames) >= 200)
  t.ok(chunksIn(a) >= 200 && chunksIn(b) > 0, `A read ${chunksIn(a)} chunks, B the other ${chunksIn(b)}`)
  // The transcript, spelled out (the same for the reference run, compared above).
  const tr = transcript(joined)
  t.same(tr.streamed, [{ source: 'writer', text: words('a') }, { source: 'critic', text: words('b') }],
    'token text per message: every word of both answers, once, in order')
  t.same(tr.events.map((e) => [e.type, e.source, e.content]),
    [['TextMessage', 'user', 'Write and review'], ['TextMessage', 'writer', words('a')], ['TextMessage', 'critic', words('b')]])
  t.same(tr.resultMessages?.map((m) => [m.type, m.source, m.content]),
    [['TextMessage', 'user', 'Write and review'], ['TextMessage', 'writer', words('a')], ['TextMessage', 'critic', words('b')]])
  t.equal(tr.stopReason, 'Maximum number of messages 3 reached, current message count: 3')
  t.equal(chunksIn(joined), 2 * WORDS)
  t.equal(chunksIn(ref), 2 * WORDS)
  t.equal(tokenText(joined), words('a') + words('b'))
})

t.test('a team with a tool call: cut once the ToolCallRequestEvent has arrived, resumed with the token', async (t) => {
  const isRequest = (f: RunFrames[number]): boolean => f.type === 'event' && (f as EventFrame).event.type === 'ToolCallRequestEvent'
  const { a, joined } = await cutAndResume(t, 'tool_team', 'Weather in Paris, then a report', (frames) => frames.some(isRequest))
  t.equal(a.filter(isRequest).length, 1, 'A got the ToolCallRequestEvent before it was cut')
  const tr = transcript(joined)
  const weather = 'The weather in Paris is sunny, 21 degrees.'
  const call = [{ id: 'call_1', arguments: '{"city": "Paris"}', name: 'get_weather' }]
  const executed = [{ content: weather, name: 'get_weather', call_id: 'call_1', is_error: false }]
  t.same(tr.events.map((e) => [e.type, e.source, e.content]), [
    ['TextMessage', 'user', 'Weather in Paris, then a report'],
    ['ToolCallRequestEvent', 'researcher', call],
    ['ToolCallExecutionEvent', 'researcher', executed],
    ['TextMessage', 'researcher', words('r')],
    ['TextMessage', 'writer', words('s')]
  ], 'each event once, in AutoGen\'s order, the tool call and its result intact')
  t.same(tr.streamed, [{ source: 'researcher', text: words('r') }, { source: 'writer', text: words('s') }])
  t.same(tr.resultMessages?.map((m) => [m.type, m.source, m.content]), [
    ['TextMessage', 'user', 'Weather in Paris, then a report'],
    ['ToolCallRequestEvent', 'researcher', call],
    ['ToolCallExecutionEvent', 'researcher', executed],
    ['TextMessage', 'researcher', words('r')],
    ['TextMessage', 'writer', words('s')]
  ])
})
