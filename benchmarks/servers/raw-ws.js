// Baseline: a bare ws server sending one frame per token as fast as it can,
// the same token frame the plugin sends (the ceiling for one frame per token).
import { WebSocketServer } from 'ws'
import { serve, syntheticRun, pulledSummary, traceSocket, traceSummary } from './common.js'

const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false })
wss.on('connection', (ws) => {
  traceSocket(ws)
  ws.on('message', async (data) => {
    const start = JSON.parse(data.toString())
    const runId = start.runId
    let seq = 0
    ws.send(JSON.stringify({ type: 'started', runId, seq: seq++ }))
    for await (const event of syntheticRun(runId, Number(start.options.tokens), Number(start.options.rate ?? 0))) {
      if (ws.readyState !== 1) return
      if (event.type === 'TaskResult') {
        ws.send(JSON.stringify({ type: 'result', runId, seq: seq++, result: event }))
      } else {
        ws.send(JSON.stringify({ type: 'token', runId, seq: seq++, source: event.source, full_message_id: event.full_message_id, text: event.content, chunks: 1 }))
      }
    }
  })
})
await new Promise((resolve) => wss.once('listening', resolve))
serve(wss.address().port, () => {
  let buffered = 0
  for (const ws of wss.clients) buffered += ws.bufferedAmount
  return { buffered, connections: wss.clients.size, ...pulledSummary(), trace: traceSummary() }
})
