import t, { type Test } from 'tap'
import { startServer, Client, seqProblems, waitFor } from './fixtures/server.js'
import { Gate, connectTracked, expectedTranscript, makeScript, runnerProbe, scriptRunner, transcriptOf, turn } from './fixtures/resume.js'
import type { AutogenStreamOptions, ServerFrame, TokenFrame } from '../lib/index.js'

/*
 * A run whose only client is cut goes on without it, but only so far: its
 * runner is pulled while the log is less than maxRunLag.events ahead of the
 * furthest position read, and the run's Readable holds highWaterMark items
 * more. Then it waits for someone to attach, or for detachTimeout.
 *
 * Each runner here waits at a gate before its first item; the gate opens on
 * the server side's 'close' of the client's socket. So the client was sent
 * exactly one frame (`started`, seq 0) and the plateau is exact: the log
 * takes seqs 1..LAG (LAG items: item i is seq i + 1), the Readable HWM more,
 * and nothing else is pulled. Everything after the gate opens happens in
 * microtasks (no I/O), so it is done before any timer (detachTimeout) fires.
 */

const HWM = 16
const LAG = 32

async function serve (t: Test, opts: Partial<AutogenStreamOptions> = {}) {
  const p = runnerProbe()
  const gate = new Gate()
  // 500 chunks in 5 messages, a TextMessage after each: far more than the plateau.
  const script = makeScript(Array(5).fill(100), 16)
  const { app, url } = await startServer({
    highWaterMark: HWM,
    maxRunLag: { events: LAG },
    ...opts,
    runner: scriptRunner(p, script, (i) => (i === 0 ? gate : undefined))
  })
  t.after(() => app.close())
  return { app, url, p, gate, script }
}

/** A client starts run r, is sent `started`, and is cut; the runner's gate opens once the server saw the socket close. */
async function startAndCut (app: Awaited<ReturnType<typeof serve>>['app'], url: string, gate: Gate): Promise<{ started: ServerFrame, token: string }> {
  const { client, server } = await connectTracked(app, url)
  server.once('close', () => gate.open())
  client.send({ type: 'start', runId: 'r', task: 'x' })
  await client.until((f) => f.some((x) => x.type === 'started'))
  client.ws.terminate()
  await client.closed
  return { started: client.run('r')[0] as ServerFrame, token: client.tokens.get('r') as string }
}

t.test('a detached run is pulled up to maxRunLag.events + highWaterMark, held there, and continued by a client that attaches with the token', async (t) => {
  const { app, url, p, gate, script } = await serve(t)
  const { started, token } = await startAndCut(app, url, gate)

  await waitFor(() => app.autogenStream.runsDetached === 1 && p.pulled >= LAG + HWM)
  t.equal(p.pulled, LAG + HWM, 'pulled: LAG items into the log after seq 0 (the last position sent), HWM in the run\'s Readable')
  await turn()
  await turn()
  t.equal(p.pulled, LAG + HWM, 'and no more: the runner is held')
  t.equal(app.autogenStream.runs, 1)
  t.equal(app.autogenStream.runsDetached, 1)
  t.equal(app.autogenStream.runsAttached, 0)
  t.notOk(p.returned, 'held, not ended')
  t.notOk(p.aborted)

  const b = await Client.connect(url)
  t.after(() => b.close())
  b.send({ type: 'attach', runId: 'r', after: 0, resumeToken: token })
  const frames = await b.untilEnded('r')
  t.same(b.frames[0], { type: 'attached', runId: 'r', after: 0, oldestSeq: 0, lastSeq: LAG, ended: false }, 'the log held seqs 0..LAG')
  t.same(seqProblems(frames, 'v2', 0), [], 'from seq 1 on, nothing missing, nothing twice')
  t.same(transcriptOf([started, ...frames]), expectedTranscript('r', script), 'the run went on to its result')
  t.equal(p.pulled, script.items.length)
  await waitFor(() => app.autogenStream.runs === 0)
  t.equal(app.autogenStream.runsDetached, 0)
  t.equal(app.autogenStream.runsRetained, 1, 'its log is kept for retainAfterEnd')
  t.notOk(p.aborted)
})

t.test('nobody attaches within detachTimeout: the run is cancelled (abandoned), its runner\'s signal fires, and a late attach reads how it ended', async (t) => {
  const { app, url, p, gate, script } = await serve(t, { detachTimeout: 200 })
  const { token } = await startAndCut(app, url, gate)

  await waitFor(() => p.aborted)
  t.match(p.signalReason, { code: 'AGS_RUN_CANCELLED', message: 'The run was cancelled (abandoned)' }, 'the runner\'s signal fired with reason abandoned')
  t.equal(p.pulled, LAG + HWM, 'it was held at its plateau until then')
  await waitFor(() => p.returned)
  t.ok(p.returned, 'the runner\'s finally block ran')
  t.equal(app.autogenStream.runs, 0)
  t.equal(app.autogenStream.runsDetached, 0)
  t.equal(app.autogenStream.runsAttached, 0)

  const c = await Client.connect(url)
  t.after(() => c.close())
  c.send({ type: 'attach', runId: 'r', after: -1, resumeToken: token })
  const frames = await c.untilEnded('r')
  t.same(c.frames[0], { type: 'attached', runId: 'r', after: -1, oldestSeq: 0, lastSeq: LAG + 1, ended: true })
  t.same(seqProblems(frames), [])
  t.same(frames.at(-1), { type: 'cancelled', runId: 'r', seq: LAG + 1, reason: 'abandoned' }, 'the last frame: cancelled, abandoned')
  // A replay merges the chunks it finds waiting: LAG chunks, in however many token frames.
  t.same(frames.map((f) => f.type).filter((type, i, all) => type !== 'token' || all[i - 1] !== 'token'), ['started', 'token', 'cancelled'])
  t.equal(frames.reduce((n, f) => n + (f.type === 'token' ? f.chunks : 0), 0), LAG)
  const text = frames.filter((f): f is TokenFrame & { seq: number } => f.type === 'token').map((f) => f.text).join('')
  t.equal(text, script.text['msg-0']?.slice(0, LAG * 16), 'the LAG chunks the log took before it was held')
})

t.test('onDisconnect: \'cancel\': the run is cancelled with reason disconnect as the connection closes', async (t) => {
  const { app, url, p, gate } = await serve(t, { onDisconnect: 'cancel' })
  const { token } = await startAndCut(app, url, gate)
  await waitFor(() => app.autogenStream.connections === 0)
  // In the same turn as the server handled the close: no timer involved.
  t.ok(p.aborted, 'the signal fired as the connection closed')
  t.match(p.signalReason, { code: 'AGS_RUN_CANCELLED', message: 'The run was cancelled (disconnect)' })
  t.equal(app.autogenStream.runs, 0)
  t.equal(app.autogenStream.runsDetached, 0)
  t.equal(p.pulled, 0, 'nothing pulled: it was cancelled before its gate opened')
  await waitFor(() => p.returned)

  const c = await Client.connect(url)
  t.after(() => c.close())
  c.send({ type: 'attach', runId: 'r', after: -1, resumeToken: token })
  const frames = await c.untilEnded('r')
  t.same(frames, [{ type: 'started', runId: 'r', seq: 0 }, { type: 'cancelled', runId: 'r', seq: 1, reason: 'disconnect' }])
})
