import t, { type Test } from 'tap'
import type { FastifyInstance } from 'fastify'
import type WebSocket from 'ws'
import { startServer, Client, waitFor, isTerminal, seqProblems } from './fixtures/server.js'
import { fastRunner, probe, chunkText, type Probe } from './fixtures/runners.js'
import type { CancelledFrame, ServerFrame, TokenFrame } from '../lib/index.js'

const SIZE = 200
const MAX_BUFFERED = 64 * 1024

/** The server side of the connection that opened last; with its close code, as the server saw it. */
function lastServerSocket (app: FastifyInstance, known: Set<WebSocket>): { ws: WebSocket, closed: Promise<number> } {
  const ws = [...app.websocketServer.clients].find((s) => !known.has(s))
  if (ws === undefined) throw new Error('no new server socket')
  known.add(ws)
  return { ws, closed: new Promise((resolve) => ws.once('close', (code: number) => resolve(code))) }
}

/**
 * The frames of a fastRunner run, checked up to (not including) its terminal
 * frame; returns the chunks delivered. On shutdown a connection writes each
 * run's terminal frame after skipping the frames it had not sent: in v2 a
 * seq gap right before the terminal frame is intended (v1 renumbers: none).
 */
function checkStream (t: Test, frames: Array<ServerFrame & { seq: number }>, label: string, version: 'v1' | 'v2' = 'v2'): number {
  const before = frames.filter((f) => !isTerminal(f))
  t.same(seqProblems(before, version), [], `${label}: seq without gaps up to the terminal frame`)
  const terminal = frames.find(isTerminal)
  if (terminal !== undefined) {
    t.equal(frames.at(-1), terminal, `${label}: the terminal frame is last`)
    t.ok(terminal.seq > (before.at(-1)?.seq ?? -1), `${label}: the terminal frame's seq follows every other`)
    if (version === 'v1') t.same(seqProblems(frames, 'v1'), [], `${label}: v1 renumbers, so not even a gap before the terminal frame`)
  }
  t.equal(frames[0]?.type, 'started', `${label}: started first`)
  const body = before.slice(1) as unknown as TokenFrame[]
  t.ok(body.every((f) => f.type === 'token'), `${label}: then tokens only`)
  const chunks = body.reduce((n, f) => n + f.chunks, 0)
  let expected = ''
  for (let i = 0; i < chunks; i++) expected += chunkText(i, SIZE)
  t.ok(body.map((f) => f.text).join('') === expected, `${label}: ${chunks} chunks in order, none lost or repeated`)
  return chunks
}

function cancelReason (p: Probe): [unknown, unknown] {
  const reason = p.signalReason as { code?: unknown, message?: unknown } | undefined
  return [reason?.code, reason?.message]
}

t.test('fastify.close(): every run ends with cancelled (shutdown), then 1001; a reading client finishes the handshake; runner.close() awaited', async (t) => {
  const probes: Record<string, Probe> = { r1: probe(), r2: probe(), v1: probe() }
  let abortedAtRunnerClose: boolean | undefined
  let runnerClosed = false
  const { app, url } = await startServer({
    // Far longer than a reading client needs: what is tested is that the
    // server waits for the handshake instead of cutting the socket.
    closeGrace: 60_000,
    runner: {
      run: (req, ctx) => fastRunner(probes[req.runId] as Probe, Infinity, SIZE)(req, ctx),
      close: async () => {
        abortedAtRunnerClose = Object.values(probes).every((p) => p.aborted)
        // Some work of its own: fastify.close() must wait for it.
        await new Promise((resolve) => setTimeout(resolve, 20))
        runnerClosed = true
      }
    }
  })
  const known = new Set<WebSocket>()
  const reader = await Client.connect(url)
  const readerServer = lastServerSocket(app, known)
  const idle = await Client.connect(url)
  const idleServer = lastServerSocket(app, known)
  const v1Reader = await Client.connect(url, { protocols: ['autogen-stream.v1'] })
  lastServerSocket(app, known)
  reader.send({ type: 'start', runId: 'r1', task: 'x' })
  reader.send({ type: 'start', runId: 'r2', task: 'x' })
  v1Reader.send({ type: 'start', runId: 'v1', task: 'x' })
  await reader.until(() => reader.run('r1').length > 10 && reader.run('r2').length > 10)
  await v1Reader.until(() => v1Reader.run('v1').length > 10)

  await app.close()
  t.ok(runnerClosed, 'runner.close() was awaited')
  t.equal(abortedAtRunnerClose, true, 'every run was cancelled before runner.close() was called')
  for (const [id, p] of Object.entries(probes)) {
    t.same(cancelReason(p), ['AGS_RUN_CANCELLED', 'The run was cancelled (shutdown)'], `${id} was cancelled upstream`)
  }

  t.same(await reader.closed, { code: 1001, reason: 'The server is shutting down' })
  t.equal(await readerServer.closed, 1001, 'the reading client answered the close: it was not cut')
  for (const id of ['r1', 'r2']) {
    const frames = reader.run(id)
    checkStream(t, frames, id)
    const last = frames.at(-1) as CancelledFrame
    t.same([last.type, last.reason], ['cancelled', 'shutdown'], `${id}: the reading client got a final cancelled frame`)
    t.equal(frames.filter(isTerminal).length, 1, `${id}: one terminal frame, the last`)
  }
  t.equal(reader.frames.length, reader.run('r1').length + reader.run('r2').length, 'nothing but run frames')
  t.same(await v1Reader.closed, { code: 1001, reason: 'The server is shutting down' })
  const v1Frames = v1Reader.run('v1')
  checkStream(t, v1Frames, 'v1', 'v1')
  t.same(v1Frames.at(-1), { type: 'cancelled', runId: 'v1', seq: v1Frames.length - 1, reason: 'shutdown' }, 'v1: the final cancelled frame')
  t.equal(v1Reader.frames.length, v1Frames.length, 'v1: nothing but run frames')

  t.same(await idle.closed, { code: 1001, reason: 'The server is shutting down' }, 'a connection without runs gets 1001 too')
  t.equal(await idleServer.closed, 1001)
  t.same(idle.frames, [])

  await waitFor(() => Object.values(probes).every((p) => p.returned))
  t.equal(app.autogenStream.connections, 0)
  t.equal(app.autogenStream.runs, 0)
})

t.test('fastify.close(): a peer that does not read cannot finish the handshake and is destroyed after closeGrace', async (t) => {
  const p = probe()
  const { app, url } = await startServer({
    // Any grace is the same here: a peer that does not read never answers.
    closeGrace: 100,
    stallTimeout: 0,
    maxBufferedBytes: MAX_BUFFERED,
    runner: fastRunner(p, Infinity, SIZE)
  })
  const stalled = await Client.connect(url)
  t.after(() => stalled.ws.terminate())
  const server = lastServerSocket(app, new Set())
  stalled.ws.pause()
  stalled.send({ type: 'start', runId: 'stalled', task: 'x' })
  // Held by backpressure: the kernel buffers are full and the server holds
  // maxBufferedBytes itself, so its close frame can only queue behind them.
  await waitFor(() => server.ws.bufferedAmount >= MAX_BUFFERED)

  await app.close()
  t.same(cancelReason(p), ['AGS_RUN_CANCELLED', 'The run was cancelled (shutdown)'], 'its run was cancelled upstream')
  t.equal(await server.closed, 1006, 'the server destroyed the socket: no close frame came back')

  // Reading again, the client gets what the kernel held, then finds the connection cut.
  stalled.ws.resume()
  t.same(await stalled.closed, { code: 1006, reason: '' })
  const frames = stalled.run('stalled')
  const chunks = checkStream(t, frames, 'stalled')
  t.ok(chunks > 0, 'it had been sent tokens before it stalled')
  t.notOk(frames.some(isTerminal), 'its cancelled frame was queued behind the stall and went with the socket')
  t.equal(stalled.frames.length, frames.length, 'nothing but run frames')

  await waitFor(() => p.returned)
  t.equal(app.autogenStream.connections, 0)
  t.equal(app.autogenStream.runs, 0)
})
