// The AG-UI page of the demo: AG-UI's own client (@ag-ui/client's
// HttpAgent) against the plugin's AG-UI endpoint. The demo app bundles this
// file with esbuild for the browser (examples/demo-app.js). What the page
// shows comes from the agent's subscriber callbacks; every event it gets is
// kept in window.agUi.events (the browser test reads them).
import { HttpAgent } from '@ag-ui/client'

const app = document.getElementById('app')
const ask = document.getElementById('ask')
const taskInput = document.getElementById('task')
const runButton = document.getElementById('run')
const status = document.getElementById('status')
const transcript = document.getElementById('transcript')
const reply = document.getElementById('reply')
const replyText = document.getElementById('reply-text')

const seen = { events: [], runId: undefined, token: undefined }

/**
 * One agent per page: its threadId is the conversation; each Run adds a
 * user message to it. The demo has no login, so every request is an
 * identity of its own: the run's resume token (a header of the POST's
 * answer) is what lets the page answer the run's input request.
 */
const agent = new HttpAgent({
  url: '/ag-ui',
  fetch: async (url, init) => {
    const response = await fetch(url, init)
    seen.token = response.headers.get('autogen-stream-resume-token') ?? undefined
    return response
  }
})
window.agUi = seen

/** Entries of the transcript by the id of what they show (a message, a tool call, a thought). */
const entries = new Map()
let pending

function setStatus (state, text) {
  app.dataset.status = state
  status.textContent = text
}

function add (kind, label, id, text = '') {
  const li = document.createElement('li')
  li.dataset.kind = kind
  li.dataset.label = label
  li.textContent = text
  transcript.append(li)
  if (id !== undefined) entries.set(`${kind}:${id}`, li)
  li.scrollIntoView({ block: 'nearest' })
  return li
}

function append (kind, id, text) {
  const li = entries.get(`${kind}:${id}`)
  if (li !== undefined) li.textContent += text
}

const subscriber = {
  onEvent ({ event }) { seen.events.push(event) },
  onTextMessageStartEvent ({ event }) {
    const li = add('message', event.name ?? event.role ?? 'assistant', event.messageId)
    li.dataset.source = event.name ?? ''
    li.dataset.role = event.role ?? 'assistant'
  },
  onTextMessageContentEvent ({ event }) { append('message', event.messageId, event.delta) },
  onReasoningMessageStartEvent ({ event }) { add('thought', 'thinking', event.messageId) },
  onReasoningMessageContentEvent ({ event }) { append('thought', event.messageId, event.delta) },
  onToolCallStartEvent ({ event }) { add('tool_call', `calls ${event.toolCallName}`, event.toolCallId) },
  onToolCallArgsEvent ({ event }) { append('tool_call', event.toolCallId, event.delta) },
  onToolCallResultEvent ({ event }) { add('tool_result', 'tool result', undefined, typeof event.content === 'string' ? event.content : JSON.stringify(event.content)) },
  onStepStartedEvent ({ event }) { add('step', '', undefined, `${event.stepName} speaks`) },
  onCustomEvent ({ event }) {
    // The run waits for the human (a UserProxyAgent): answered in place, on the run's own URL.
    if (event.name !== 'autogen-stream.input_request' || event.value?.answered === true) return
    pending = event.value.requestId
    reply.hidden = false
    setStatus('input', 'The team waits for your answer.')
    replyText.focus()
  },
  onRunFinishedEvent ({ event }) {
    const outcome = event.outcome?.type ?? 'success'
    setStatus(outcome, outcome === 'success' ? 'Done.' : `Ended: ${outcome}.`)
  },
  onRunErrorEvent ({ event }) { setStatus('error', `Error ${event.code ?? ''}: ${event.message}`) }
}

ask.addEventListener('submit', async (e) => {
  e.preventDefault()
  const content = taskInput.value.trim()
  if (content === '' || agent.isRunning) return
  agent.addMessage({ id: crypto.randomUUID(), role: 'user', content })
  add('message', 'you', undefined, content).dataset.role = 'user'
  seen.runId = crypto.randomUUID()
  runButton.disabled = true
  setStatus('running', 'Running…')
  try {
    await agent.runAgent({ runId: seen.runId }, subscriber)
  } catch (err) {
    setStatus('error', String(err?.message ?? err))
  } finally {
    runButton.disabled = false
    reply.hidden = true
  }
})

reply.addEventListener('submit', async (e) => {
  e.preventDefault()
  const content = replyText.value.trim()
  if (content === '' || pending === undefined) return
  const requestId = pending
  pending = undefined
  reply.hidden = true
  replyText.value = ''
  setStatus('running', 'Running…')
  const res = await fetch(`/ag-ui/runs/${encodeURIComponent(seen.runId)}/input`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'autogen-stream-resume-token': seen.token ?? '' },
    body: JSON.stringify({ requestId, content })
  })
  if (res.status !== 204) setStatus('error', `The answer was refused: ${(await res.json()).message}`)
})
