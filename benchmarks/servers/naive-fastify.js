// Baseline: what most tutorials and AutoGen Studio-style code do. An
// @fastify/websocket handler that calls socket.send() for every event,
// verbatim, without waiting for anything.
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import { serve, syntheticRun, pulledSummary, traceSocket, traceSummary } from './common.js'

const app = Fastify({ logger: false })
await app.register(websocket, { options: { perMessageDeflate: false } })
app.get('/autogen', { websocket: true }, (socket) => {
  traceSocket(socket)
  socket.on('message', async (data) => {
    const start = JSON.parse(data.toString())
    for await (const event of syntheticRun(start.runId, Number(start.options.tokens), Number(start.options.rate ?? 0))) {
      if (socket.readyState !== 1) return
      socket.send(JSON.stringify(event))
    }
  })
})
await app.listen({ port: 0, host: '127.0.0.1' })
serve(app.server.address().port, () => {
  let buffered = 0
  for (const ws of app.websocketServer.clients) buffered += ws.bufferedAmount
  return { buffered, connections: app.websocketServer.clients.size, ...pulledSummary(), trace: traceSummary() }
})
