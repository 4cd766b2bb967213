import t from 'tap'
import { startServer, Client, waitFor, seqProblems } from './fixtures/server.js'
import { fastRunner, probe, chunkText } from './fixtures/runners.js'
import type { TokenFrame, ResultFrame } from '../lib/index.js'

/*
 * The proof that backpressure reaches the source. A runner that yields as
 * fast as it can, a client that stops reading (ws.pause() stops reading the
 * TCP socket). Loopback kernel buffers take several MB before the server's
 * socket is congested, so the run produces ~20 MB: far more than the
 * kernel holds, far less than it would take to finish unthrottled.
 */

const TOTAL = 40_000
const SIZE = 500
const HWM = 64
const MAX_BUFFERED = 64 * 1024
/** The run's log takes at most this many frames no reader has read (maxRunLag.events). */
const LAG = 32

async function plateau (read: () => number): Promise<number> {
  // Stable for 20 polls in a row, 50 ms apart: nothing is pulled any more.
  let last = -1
  let stable = 0
  while (stable < 20) {
    await new Promise((resolve) => setTimeout(resolve, 50))
    const now = read()
    stable = now === last ? stable + 1 : 0
    last = now
  }
  return last
}

t.test('a stalled client stops the runner from being pulled; nothing is lost when it reads again', async (t) => {
  const p = probe()
  const { app, url } = await startServer({
    highWaterMark: HWM,
    maxBufferedBytes: MAX_BUFFERED,
    maxRunLag: { events: LAG },
    stallTimeout: 0,
    runner: fastRunner(p, TOTAL, SIZE, 100)
  })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  c.ws.pause()
  c.send({ type: 'start', runId: 'bp', task: 'flood' })

  const pulled = await plateau(() => p.pulled)
  t.ok(pulled > 0 && pulled < TOTAL, `the runner is held at ${pulled} of ${TOTAL} events`)

  const counters = app.autogenStream.counters
  const inServer = pulled - counters.tokens
  // Held in the run's Readable (highWaterMark) and in its log, unread by the
  // stalled client (maxRunLag.events); 2 for the step in flight.
  t.ok(inServer <= HWM + LAG + 2, `events pulled but not yet written: ${inServer} <= highWaterMark + maxRunLag.events + 2`)

  const [serverSocket] = [...app.websocketServer.clients]
  const buffered = serverSocket?.bufferedAmount ?? -1
  // Writes stop once the socket holds maxBufferedBytes; the frame that
  // crossed the line is at most one coalesced frame (16 Ki chars + JSON).
  t.ok(buffered >= MAX_BUFFERED, `the socket is congested: ${buffered} bytes buffered`)
  t.ok(buffered < MAX_BUFFERED + 20 * 1024, `buffered bytes stay bounded: ${buffered}`)
  t.notOk(p.returned, 'the runner is paused, not closed')

  c.ws.resume()
  const frames = await c.untilEnded('bp')
  t.equal(p.pulled, TOTAL)
  t.same(seqProblems(frames), [], 'seq without gaps (a merged token frame covers seq - chunks + 1 .. seq)')
  const tokens = frames.filter((f): f is TokenFrame => f.type === 'token')
  t.equal(tokens.reduce((n, f) => n + f.chunks, 0), TOTAL, 'every chunk delivered once')
  let expected = ''
  for (let i = 0; i < TOTAL; i++) expected += chunkText(i, SIZE)
  t.ok(tokens.map((f) => f.text).join('') === expected, 'all chunk text, in order, nothing lost or duplicated')
  t.ok(tokens.every((f, i) => i === 0 || Number(f.full_message_id?.slice(4)) >= Number(tokens[i - 1]?.full_message_id?.slice(4))),
    'message ids never go back')
  t.ok(tokens.length < TOTAL, `chunks waiting under congestion were merged: ${TOTAL} chunks in ${tokens.length} frames`)
  t.equal((frames.at(-1) as ResultFrame).type, 'result')
  await waitFor(() => p.returned)
  t.ok(p.returned, 'the runner finished')
})

t.test('a stalled connection does not slow another connection', async (t) => {
  const stalled = probe()
  const { app, url } = await startServer({
    stallTimeout: 0,
    runner: async function * (req, ctx) {
      if (req.runId === 'flood') yield * fastRunner(stalled, Infinity, SIZE)(req, ctx)
      else yield * fastRunner(probe(), 5000, 32)(req, ctx)
    }
  })
  t.after(() => app.close())
  const slow = await Client.connect(url)
  t.after(() => slow.close())
  slow.ws.pause()
  slow.send({ type: 'start', runId: 'flood', task: 'x' })
  await plateau(() => stalled.pulled)

  const fast = await Client.connect(url)
  t.after(() => fast.close())
  fast.send({ type: 'start', runId: 'ok', task: 'x' })
  const frames = await fast.untilEnded('ok')
  t.equal(frames.at(-1)?.type, 'result')
  t.equal(frames.filter((f): f is TokenFrame => f.type === 'token').reduce((n, f) => n + f.chunks, 0), 5000)
})
