import t from 'tap'
import WebSocket from 'ws'
import { startServer, waitFor } from './fixtures/server.js'
import { chunk } from './fixtures/events.js'
import { PROTOCOL } from '../lib/index.js'

/*
 * Many connections, each reading a runner that never awaits: their senders
 * take turns through microtasks, and a sender's count of what it wrote
 * without yielding must not restart merely because the others' passes came
 * in between (it did, when a pass more than a millisecond after the last one
 * counted as a new turn of the event loop: the loop stalled for seconds and
 * new connections waited). The bound is counted, not timed: between arming a
 * setImmediate and its callback, each sender writes at most YIELD_EVERY (64)
 * chunks plus one merged frame (up to maxRunLag.events chunks), in at most
 * two turns of the loop.
 */
t.test('with 100 saturated connections the event loop still reaches I/O every few thousand chunks', async (t) => {
  const connections = 100
  const lag = 64
  const state = { live: true }
  const { app, url } = await startServer({
    maxRunLag: { events: lag },
    maxConnectionsPerIp: 0,
    maxRunsPerIdentity: 0,
    maxActiveRuns: 0,
    frameRate: 0,
    runner: async function * () {
      for (let i = 0; state.live; i++) yield chunk('x', `m${i >> 12}`)
    }
  })
  t.after(async () => { state.live = false; await app.close() })

  // Clients that count what they get and keep nothing (the frames are not the point here).
  const count = { received: 0 }
  const sockets = await Promise.all(Array.from({ length: connections }, async (_, i) => {
    const ws = new WebSocket(url, [PROTOCOL])
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
    ws.on('message', () => { count.received++ })
    ws.send(JSON.stringify({ type: 'start', runId: `r${i}`, task: 'x' }))
    return ws
  }))
  t.after(() => { for (const ws of sockets) ws.terminate() })

  const sent = (): number => app.autogenStream.counters.tokens
  // Every run is flowing before the samples are taken.
  await waitFor(() => count.received >= connections * 10 && app.autogenStream.runs === connections)

  const bound = 2 * connections * (64 + lag)
  let worst = 0
  for (let sample = 0; sample < 50; sample++) {
    const before = sent()
    await new Promise((resolve) => setImmediate(resolve))
    worst = Math.max(worst, sent() - before)
  }
  t.ok(worst > 0, `chunks were sent while the samples were taken (${sent()} in all)`)
  t.ok(worst <= bound, `at most ${bound} chunks went out between a setImmediate and its callback; the most was ${worst}`)
})
