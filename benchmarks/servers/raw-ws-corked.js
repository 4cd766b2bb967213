// Baseline: a bare ws server sending one frame per token, writing each batch
// of frames with one system call: it corks the socket under ws, sends the
// frames its runner has ready in this turn of the event loop (at most 64,
// like the plugin's sender), uncorks, and goes on from setImmediate. This is
// the ceiling for one frame per token; plain raw-ws.js (one write per frame)
// shows what the batching alone is worth. Like raw-ws.js it never waits for
// the socket to drain.
import { WebSocketServer } from 'ws'
import { serve, syntheticRun, pulledSummary } from './common.js'

const BATCH = 64

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false })
wss.on('connection', (ws) => {
  // ws keeps the net.Socket it writes to here (no public accessor).
  const raw = ws._socket
  ws.on('message', async (data) => {
    const start = JSON.parse(data.toString())
    const runId = start.runId
    let seq = 0
    ws.send(JSON.stringify({ type: 'started', runId, seq: seq++ }))
    const events = syntheticRun(runId, Number(start.options.tokens), Number(start.options.rate ?? 0))
    for (;;) {
      raw.cork()
      let done = false
      try {
        for (let n = 0; n < BATCH; n++) {
          const { value: event, done: end } = await events.next()
          if (end || ws.readyState !== 1) { done = true; break }
          if (event.type === 'TaskResult') {
            ws.send(JSON.stringify({ type: 'result', runId, seq: seq++, result: event }))
          } else {
            ws.send(JSON.stringify({ type: 'token', runId, seq: seq++, source: event.source, full_message_id: event.full_message_id, text: event.content, chunks: 1 }))
          }
        }
      } finally {
        raw.uncork()
      }
      if (done) return
      await new Promise((resolve) => setImmediate(resolve))
    }
  })
})
await new Promise((resolve) => wss.once('listening', resolve))
serve(wss.address().port, () => {
  let buffered = 0
  for (const ws of wss.clients) buffered += ws.bufferedAmount
  return { buffered, connections: wss.clients.size, ...pulledSummary() }
})
