import t from 'tap'
import { startServer, Client, waitFor } from './fixtures/server.js'
import type { RunContext, RunRequest, ServerFrame } from '../lib/index.js'

/*
 * Frames the server answers at once (list, attach, errors) are not run
 * frames paced by the sender: a client that sends them and never reads
 * would make the server buffer answers without bound. Once answers worth
 * maxBufferedBytes wait in a congested socket, the server stops reading the
 * client (TCP pushes back) until the socket drains; nothing is lost.
 */
t.test('a client that asks for `list` and never reads: the server stops reading it at maxBufferedBytes of answers; every answer arrives once it reads', async (t) => {
  const MAX = 4096
  const { app, url } = await startServer({
    maxBufferedBytes: MAX,
    frameRate: 0,
    stallTimeout: 0, // the budget alone bounds it here
    authenticate: () => ({ id: 'alice' }),
    runner: async function * (_req: RunRequest, ctx: RunContext) {
      await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve))
    }
  })
  t.after(() => app.close())
  const c = await Client.connect(url)
  // Runs to list, so that each answer is a few hundred bytes.
  for (let i = 0; i < 4; i++) c.send({ type: 'start', runId: `run-with-a-long-name-${i}`, task: 'x' })
  await c.until((f) => f.filter((x) => x.type === 'started').length === 4)
  c.ws.pause()
  // More than loopback's kernel buffers absorb (~12,000 answers here): the server must hold back.
  const SENT = 20_000
  for (let i = 0; i < SENT; i++) c.send({ type: 'list' })
  const server = [...app.websocketServer.clients][0] as unknown as { isPaused: boolean, bufferedAmount: number }
  await waitFor(() => server.isPaused)
  const answered = app.autogenStream.counters.frames - 4
  // Of 20,000 lists, the server answered only those it read before it paused: not all.
  t.ok(answered < SENT, `the server stopped reading after ${answered} answers`)
  const answer = Buffer.byteLength(JSON.stringify({ type: 'runs', runs: [0, 1, 2, 3].map((i) => ({ runId: `run-with-a-long-name-${i}`, state: 'running', lastSeq: 0, watchers: 1 })) }))
  t.ok(server.bufferedAmount <= MAX + MAX + answer,
    `at most maxBufferedBytes of answers, + maxBufferedBytes, + one answer wait in user space: ${server.bufferedAmount} <= ${MAX * 2 + answer}`)
  c.ws.resume()
  await c.until((f) => f.filter((x) => x.type === 'runs').length === SENT)
  const runs = c.frames.filter((f): f is Extract<ServerFrame, { type: 'runs' }> => f.type === 'runs')
  t.equal(runs.length, SENT, 'every list was answered in the end')
  t.equal(c.frames.filter((f) => f.type === 'error').length, 0, 'and nothing was refused')
  c.close()
})
