// The demo: `npm start`. A Fastify server with the plugin on the Python
// runner and the default demo team (python/autogen_stream_bridge/demo.py):
// AutoGen's ReplayChatCompletionClient, so no API key is needed. With
// OPENAI_API_KEY set, the team uses OpenAIChatCompletionClient instead
// (install the extra first: .venv/bin/pip install -e 'python[openai]').
// The app itself (routes, the page of examples/demo/) is examples/demo-app.js.
import { createDemoApp } from './demo-app.js'

const port = Number(process.env.PORT ?? 3000)
const host = process.env.HOST ?? '127.0.0.1'

const app = await createDemoApp()

await app.listen({ port, host })
const model = process.env.OPENAI_API_KEY ? `OpenAI (${process.env.OPENAI_MODEL ?? 'gpt-4o-mini'})` : 'AutoGen ReplayChatCompletionClient (canned replies, no API key)'
console.log(`
autogen-stream demo, model: ${model}
  WebSocket: ws://${host}:${port}/autogen   (subprotocol autogen-stream.v2; v1 still served)
  Try it:    http://${host}:${port}/
  AG-UI:     POST http://${host}:${port}/ag-ui (a RunAgentInput), or the page http://${host}:${port}/ag-ui
  By hand:   send {"type":"start","task":"Write a haiku about backpressure"}
`)

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => { app.close().then(() => process.exit(0)) })
}
