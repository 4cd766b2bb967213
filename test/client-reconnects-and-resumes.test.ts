import t, { type Test } from 'tap'
import { startServer, seqProblems } from './fixtures/server.js'
import { Gate, expectedTranscript, makeScript, runnerProbe, scriptRunner, transcriptOf } from './fixtures/resume.js'
import { MemoryStorage, collect, nodeClient, terminateAll, untilFrame, untilState } from './fixtures/client.js'
import type { RunContext, RunRequest } from '../lib/index.js'

/*
 * The client library against a real server: its socket is cut on the
 * server side (terminate: no close handshake) while a run is held
 * mid-stream; it reconnects by itself and attaches after the last seq it
 * saw. What its run yields must be exactly an uninterrupted run's frames:
 * no seq twice, none missing, the same text per message.
 */

const script = makeScript([40, 30, 50], 16)
const HOLDS = [20, 45, 90]

async function serve (t: Test) {
  const p = runnerProbe()
  const gates = HOLDS.map(() => new Gate())
  const runner = scriptRunner(p, script, (i) => {
    const at = HOLDS.indexOf(i)
    return at === -1 ? undefined : gates[at]
  })
  const { app, url } = await startServer({ highWaterMark: 16, runner: (req: RunRequest, ctx: RunContext) => runner(req, ctx) })
  t.after(() => app.close())
  return { app, url, p, gates }
}

t.test('the socket is cut three times mid-run: the run goes on from the last seq each time', async (t) => {
  const { app, url, p, gates } = await serve(t)
  const client = nodeClient(url)
  t.after(() => client.close())
  const run = client.start('go', { runId: 'r1' })
  const { frames, done } = collect(run)
  for (const [i, gate] of gates.entries()) {
    await untilFrame(run, () => p.holding === HOLDS[i] && run.lastSeq === HOLDS[i])
    const reopened = untilState(client, 'open')
    t.equal(terminateAll(app), 1, `cut ${i + 1}: one socket`)
    await reopened
    gate.open()
  }
  const result = await run.result
  await done
  t.equal(result.stop_reason, script.result.stop_reason)
  t.same(seqProblems(frames, 'v2'), [], 'every seq exactly once')
  t.same(transcriptOf(frames), expectedTranscript('r1', script), 'the same frames and text as an uninterrupted run')
  t.same(client.states.map((s) => s.state), [
    'connecting', 'open',
    'reconnecting', 'connecting', 'open',
    'reconnecting', 'connecting', 'open',
    'reconnecting', 'connecting', 'open'
  ])
  t.same(client.states.filter((s) => s.state === 'reconnecting').map((s) => [s.code, s.attempt]), [[1006, 1], [1006, 1], [1006, 1]],
    'a cut shows as 1006; the backoff starts afresh after each successful reconnect')
  const messages = run.messages.filter((m) => m.kind === 'message')
  t.same(messages.map((m) => m.kind === 'message' && [m.fullMessageId, m.text, m.streaming]), [
    ['msg-0', 'message 0: 40 chunks', false], ['msg-1', 'message 1: 30 chunks', false], ['msg-2', 'message 2: 50 chunks', false]
  ], 'each streamed message replaced by its final TextMessage')
  t.equal(run.state, 'ended')
  t.equal(client.runs.size, 0, 'an ended run is forgotten')
})

t.test('a reload: the next page restores the run from storage and rebuilds the whole transcript', async (t) => {
  const { app, url, p, gates } = await serve(t)
  for (const gate of gates.slice(1)) gate.open()
  const storage = new MemoryStorage()
  const first = nodeClient(url, { storage, reconnect: false })
  const run = first.start('a task to show after the reload', { runId: 'r2' })
  const streamed: string[] = []
  run.on('token', (f) => streamed.push(f.text))
  await untilFrame(run, () => p.holding === HOLDS[0] && run.lastSeq === HOLDS[0])
  const saved = JSON.parse([...storage.items.values()][0] ?? '[]') as Array<{ runId: string, resumeToken: string, task: string }>
  t.same(saved.map((s) => [s.runId, s.task, typeof s.resumeToken]), [['r2', 'a task to show after the reload', 'string']])
  const lost = t.rejects(run.result, { code: 'AGS_CONNECTION_LOST' })
  terminateAll(app) // the page goes away
  await lost

  const second = nodeClient(url, { storage })
  t.after(() => second.close())
  const [restored, ...others] = second.restore()
  t.equal(others.length, 0)
  if (restored === undefined) throw new Error('nothing restored')
  t.equal(restored.runId, 'r2')
  t.equal(restored.task, 'a task to show after the reload')
  const { frames, done } = collect(restored)
  await untilFrame(restored, () => restored.lastSeq === HOLDS[0])
  gates[0]?.open()
  await restored.result
  await done
  t.same(seqProblems(frames, 'v2'), [], 'from seq 0, every seq once')
  t.same(transcriptOf(frames), expectedTranscript('r2', script), 'the whole run, as an uninterrupted reader got it')
  t.ok(streamed.length > 0, 'the first page had streamed part of it')
  t.equal(storage.items.size, 0, 'an ended run leaves storage')
})

t.test('list() answers the runs of this connection', async (t) => {
  const { url, gates } = await serve(t)
  const client = nodeClient(url)
  t.after(() => client.close())
  const run = client.start('go', { runId: 'r3' })
  await untilFrame(run, () => run.state === 'running')
  const runs = await client.list()
  t.same(runs.map((r) => [r.runId, r.state, r.watchers]), [['r3', 'running', 1]])
  for (const gate of gates) gate.open()
  await run.result
})
