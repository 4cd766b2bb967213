// The demo: `npm start`. A Fastify server with the plugin on the Python
// runner and the default demo team (python/autogen_stream_bridge/demo.py):
// AutoGen's ReplayChatCompletionClient, so no API key is needed. With
// OPENAI_API_KEY set, the team uses OpenAIChatCompletionClient instead
// (install the extra first: .venv/bin/pip install -e 'python[openai]').
import Fastify from 'fastify'
import autogenStream, { pythonRunner } from '../dist/index.js'

const port = Number(process.env.PORT ?? 3000)
const host = process.env.HOST ?? '127.0.0.1'

const app = Fastify({ logger: { level: process.env.LOG_LEVEL ?? 'info' } })

await app.register(autogenStream, {
  path: '/autogen',
  runner: pythonRunner({
    factory: process.env.AUTOGEN_FACTORY ?? 'autogen_stream_bridge.demo:create_team',
    workers: Number(process.env.WORKERS ?? 2),
    // The demo's team reads these; the workers see nothing else of the server's secrets.
    passEnv: ['OPENAI_API_KEY', 'OPENAI_MODEL', 'OPENAI_BASE_URL']
  })
})

app.get('/', async (_request, reply) => reply.type('text/html').send(page))

await app.listen({ port, host })
const model = process.env.OPENAI_API_KEY ? `OpenAI (${process.env.OPENAI_MODEL ?? 'gpt-4o-mini'})` : 'AutoGen ReplayChatCompletionClient (canned replies, no API key)'
console.log(`
autogen-stream demo, model: ${model}
  WebSocket: ws://${host}:${port}/autogen   (subprotocol autogen-stream.v2; v1 still served)
  Try it:    http://${host}:${port}/
  By hand:   send {"type":"start","task":"Write a haiku about backpressure"}
`)

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => { app.close().then(() => process.exit(0)) })
}

const page = `<!doctype html>
<meta charset="utf-8">
<title>autogen-stream demo</title>
<style>body{font:15px system-ui;max-width:48rem;margin:2rem auto}#out{white-space:pre-wrap;border:1px solid #ccc;padding:1rem;min-height:10rem}.src{font-weight:bold;display:block;margin-top:.5rem}</style>
<h1>autogen-stream demo</h1>
<form id="f"><input id="task" size="50" value="Write a haiku about backpressure"> <button>Run</button> <button type="button" id="cancel">Cancel</button></form>
<p id="status">connecting…</p>
<div id="out"></div>
<script>
// Runs outlive the socket (protocol v2): the page keeps its run's id, resume
// token and last seq in sessionStorage, and after a reload or a dropped
// connection attaches again and gets the rest, exactly.
const out = document.getElementById('out'), status = document.getElementById('status')
let ws, current = null, run = JSON.parse(sessionStorage.getItem('run') || 'null')
const save = () => sessionStorage.setItem('run', JSON.stringify(run))
function connect () {
  ws = new WebSocket('ws://' + location.host + '/autogen', 'autogen-stream.v2')
  ws.onopen = () => {
    status.textContent = 'connected'
    // From the start (-1) after a reload (the page is empty), else from the last seq shown.
    if (run && !run.ended) ws.send(JSON.stringify({ type: 'attach', runId: run.runId, after: out.textContent ? run.lastSeq : -1, resumeToken: run.token }))
  }
  ws.onclose = (e) => { status.textContent = 'closed ' + e.code + ' ' + e.reason + ', reconnecting…'; setTimeout(connect, 1000) }
  ws.onmessage = (m) => {
    const f = JSON.parse(m.data)
    if ('seq' in f && run && f.runId === run.runId && !f.resent) { run.lastSeq = f.seq; save() }
    if (f.type === 'started') { run = { runId: f.runId, token: f.resumeToken, lastSeq: 0 }; save(); out.textContent = ''; current = null; status.textContent = 'running ' + f.runId }
    else if (f.type === 'attached') { if (f.after === -1) { out.textContent = ''; current = null } status.textContent = 'resumed ' + f.runId + ' after seq ' + f.after }
    else if (f.type === 'token') {
      if (!current || current.id !== f.full_message_id) {
        const s = document.createElement('span'); s.className = 'src'; s.textContent = f.source + ':'; out.append(s)
        current = { id: f.full_message_id, node: document.createTextNode('') }; out.append(current.node)
      }
      current.node.data += f.text
    } else if (f.type === 'result' || f.type === 'cancelled' || (f.type === 'error' && 'seq' in f)) {
      if (run) { run.ended = true; save() }
      status.textContent = f.type === 'result' ? 'done: ' + f.result.stop_reason : f.type === 'cancelled' ? 'cancelled (' + f.reason + ')' : 'error ' + f.code + ': ' + f.message
    } else if (f.type === 'error') status.textContent = 'error ' + f.code + ': ' + f.message
    else if (f.type === 'input_request') ws.send(JSON.stringify({ type: 'input', runId: f.runId, requestId: f.requestId, content: prompt(f.prompt) || '' }))
  }
}
connect()
document.getElementById('f').onsubmit = (e) => { e.preventDefault(); ws.send(JSON.stringify({ type: 'start', task: document.getElementById('task').value })) }
document.getElementById('cancel').onclick = () => { if (run) ws.send(JSON.stringify({ type: 'cancel', runId: run.runId })) }
</script>`
