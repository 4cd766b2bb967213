// Baseline: a bare ws server sending one frame per token, writing each batch
// of frames with one system call: it corks the socket under ws, sends the
// frames its runner has ready (at most 64, like the plugin's sender),
// uncorks, and goes on from setImmediate after a full batch. This is the
// ceiling for one frame per token; plain raw-ws.js (one write per frame)
// shows what the batching alone is worth. Like raw-ws.js it never waits for
// the socket to drain.
//
// "Ready": the synthetic runner at full speed (rate 0, the throughput
// scenario) always has its next chunk ready, so the server takes 64 in a row
// (awaiting each next() as it settles, within microtasks) and every batch is
// 64 frames. A paced runner (the latency scenario) has its next chunk ready
// only if it settles within a few microtask turns (READY_TURNS); if not, the
// socket is uncorked at once, so a frame never waits under the cork for the
// next chunk's timer. (The check costs a few microtask turns per frame, so it
// is left out where it cannot matter: at full speed.)
import { WebSocketServer } from 'ws'
import { serve, syntheticRun, pulledSummary, traceSocket, traceSummary } from './common.js'

const BATCH = 64
const READY_TURNS = 8
const NOT_READY = Symbol('not ready')

/** The step if `promise` settles within READY_TURNS microtask turns, else NOT_READY. */
async function ifReady (promise) {
  // An object, so the loop sees the callback's write (and lint knows it).
  const seen = { step: NOT_READY }
  promise.then((value) => { seen.step = value }, () => {})
  for (let i = 0; i < READY_TURNS && seen.step === NOT_READY; i++) await null
  return seen.step
}

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false })
wss.on('connection', (ws) => {
  traceSocket(ws)
  // ws keeps the net.Socket it writes to here (no public accessor).
  const raw = ws._socket
  ws.on('message', async (data) => {
    const start = JSON.parse(data.toString())
    const runId = start.runId
    let seq = 0
    ws.send(JSON.stringify({ type: 'started', runId, seq: seq++ }))
    const rate = Number(start.options.rate ?? 0)
    const events = syntheticRun(runId, Number(start.options.tokens), rate)
    const send = (event) => {
      if (event.type === 'TaskResult') {
        ws.send(JSON.stringify({ type: 'result', runId, seq: seq++, result: event }))
      } else {
        ws.send(JSON.stringify({ type: 'token', runId, seq: seq++, source: event.source, full_message_id: event.full_message_id, text: event.content, chunks: 1 }))
      }
    }
    let pending = events.next()
    for (;;) {
      // Uncorked while the runner makes us wait.
      let step = await pending
      let n = 0
      raw.cork()
      try {
        while (!step.done && ws.readyState === 1) {
          send(step.value)
          pending = events.next()
          if (++n === BATCH) break
          step = rate > 0 ? await ifReady(pending) : await pending
          if (step === NOT_READY) break
        }
      } finally {
        raw.uncork()
      }
      if (step.done || ws.readyState !== 1) return
      if (n === BATCH) await new Promise((resolve) => setImmediate(resolve))
    }
  })
})
await new Promise((resolve) => wss.once('listening', resolve))
serve(wss.address().port, () => {
  let buffered = 0
  for (const ws of wss.clients) buffered += ws.bufferedAmount
  return { buffered, connections: wss.clients.size, ...pulledSummary(), trace: traceSummary() }
})
