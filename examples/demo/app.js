/* global document, fetch, location, sessionStorage, window */
// The demo page: several runs of an AutoGen team, each streamed by the client
// library (fastify-autogen-stream/client, served by the demo app under
// /client/). No framework: one DOM node per transcript entry (keyed by
// entry.key), changed in place as the run streams. Every piece of data goes
// into the page as text (textContent, text nodes, setAttribute), never as
// HTML. A reload resumes every run that has not ended: the client keeps their
// ids and resume tokens in sessionStorage and restore() attaches them again
// from their start, so their transcripts are rebuilt.
import { createClient } from '/client/index.js'

const els = {
  connection: byId('connection'),
  form: byId('new-run'),
  task: /** @type {HTMLInputElement} */ (byId('task')),
  notice: byId('notice'),
  runs: byId('runs'),
  noRuns: byId('no-runs'),
  views: byId('views'),
  noSelection: byId('no-selection')
}

// This server's route first; then, when the demo runs as a cluster
// (examples/cluster.js), the other gateways, tried in turn when the
// connection is lost: the runs live in Redis, any gateway serves them.
const own = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/autogen`
const { gateways = [] } = await fetch('/demo-config.json').then((r) => r.json()).catch(() => ({}))
const client = createClient({
  url: [own, ...gateways.filter((url) => url !== own)],
  // One key for the whole cluster: a reload on any gateway finds the runs.
  storageKey: 'autogen-stream:demo',
  storage: sessionStorage
})

/** runId → the run's view (list item, section, entry nodes). */
const views = new Map()
let selected
let counter = 0

// The connection.

let lastAttempt = 0
client.on('state', (change) => {
  const { state, code, reason, attempt, delay, error } = change
  const why = code === undefined ? '' : ` (code ${code}${reason ? `, ${reason}` : ''})`
  let text
  switch (state) {
    case 'idle':
      text = 'Idle: connects when a run needs it'
      break
    case 'connecting':
      text = lastAttempt > 0 ? `Reconnecting, attempt ${lastAttempt}…` : 'Connecting…'
      break
    case 'open':
      text = 'Connected'
      lastAttempt = 0
      hideNotice()
      break
    case 'reconnecting':
      lastAttempt = attempt ?? lastAttempt + 1
      text = `Connection lost${why}; reconnecting, attempt ${lastAttempt} in ${seconds(delay ?? 0)} s`
      break
    case 'closed':
      text = `Closed${why}${error ? `: ${error.message}` : ''}. Reload the page to resume.`
      break
    default:
      text = state
  }
  els.connection.dataset.state = state
  els.connection.textContent = text
})

// A refused frame that names no run of ours (a rate limit, say), or why the client gave up.
client.on('error', (err) => showNotice(`${err.code}: ${err.message}`))

// The replay after an attach goes up to the run's lastSeq at that moment:
// until a view has caught up with it, reply boxes wait, so that a reload
// does not flash boxes while the transcript is rebuilt.
client.on('frame', (frame) => {
  if (frame.type !== 'attached') return
  const view = views.get(frame.runId)
  if (view !== undefined && frame.lastSeq > view.run.lastSeq) view.horizon = frame.lastSeq
})

// New runs.

els.form.addEventListener('submit', (event) => {
  event.preventDefault()
  const task = els.task.value.trim()
  if (task === '') return
  let run
  try {
    run = client.start(task)
  } catch (err) {
    showNotice(err instanceof Error ? err.message : String(err))
    return
  }
  select(addView(run))
})

// Views.

function addView (run) {
  const n = ++counter
  const label = typeof run.task === 'string' ? run.task : run.runId
  const status = h('span', { class: 'status' })
  const button = h('button', { type: 'button', class: 'select', 'aria-controls': `run-${n}`, 'aria-current': 'false' },
    h('span', { class: 'label' }, label), status)
  const item = h('li', { 'data-run-id': run.runId }, button)

  const title = h('h2', { id: `run-${n}-title`, tabindex: '-1' }, label)
  const state = h('p', { class: 'state' })
  const stop = h('button', { type: 'button', class: 'stop', title: 'Let the current agent finish its turn, then end with a result' }, 'Stop')
  const cancel = h('button', { type: 'button', class: 'cancel', title: 'End the run now' }, 'Cancel')
  const runNotice = h('p', { class: 'run-notice', role: 'alert', hidden: true })
  const transcript = h('ol', { class: 'transcript', 'aria-label': 'Conversation' })
  const replies = h('div', { class: 'replies' })
  const outcome = h('div', { class: 'outcome', role: 'status', hidden: true })
  const section = h('section', { id: `run-${n}`, class: 'run', 'data-run-id': run.runId, 'aria-labelledby': title.id, hidden: true },
    h('header', { class: 'run-head' }, title, h('div', { class: 'bar' }, state, h('div', { class: 'controls' }, stop, cancel))),
    runNotice, transcript, replies, outcome)

  const view = {
    ...{ run, n, item, button, status, section, title, state, stop, cancel, runNotice, transcript, replies, outcome },
    /** entry.key → its <li>. */
    nodes: new Map(),
    /** tool call id → the key of the tool_calls entry that shows it. */
    callOwners: new Map(),
    /** requestId → its reply form. */
    forms: new Map(),
    stopRequested: false,
    cancelRequested: false,
    /** While set: the run's frames up to this seq are a replay (see the 'frame' listener above). */
    horizon: undefined
  }
  views.set(run.runId, view)
  els.runs.append(item)
  els.views.append(section)
  els.noRuns.hidden = true

  button.addEventListener('click', () => select(view, { focusReply: true }))
  stop.addEventListener('click', () => {
    view.stopRequested = true
    run.stop()
    renderStatus(view)
  })
  cancel.addEventListener('click', () => {
    view.cancelRequested = true
    run.cancel()
    renderStatus(view)
  })

  run.on('message', (entry) => stickToBottom(view, () => renderEntry(view, entry)))
  run.on('frame', () => {
    if (view.horizon !== undefined && run.lastSeq >= view.horizon) {
      view.horizon = undefined
      renderReplies(view)
    }
  })
  run.on('input_request', () => renderReplies(view))
  run.on('state', () => {
    renderReplies(view)
    renderStatus(view)
  })
  run.on('rejected', (err) => {
    renderReplies(view)
    showRunNotice(view, err.code === 'AGS_UNKNOWN_REQUEST'
      ? 'That reply was not needed any more: the request had been answered or had timed out.'
      : `The server refused: ${err.message}`)
  })
  run.on('gap', () => renderStatus(view))

  for (const entry of run.messages) renderEntry(view, entry)
  renderReplies(view)
  renderStatus(view)
  return view
}

function select (view, { focusReply = false } = {}) {
  if (selected !== undefined) {
    selected.section.hidden = true
    selected.button.setAttribute('aria-current', 'false')
  }
  selected = view
  view.section.hidden = false
  view.button.setAttribute('aria-current', 'true')
  els.noSelection.hidden = true
  const input = focusReply ? view.replies.querySelector('input') : null
  if (input !== null) input.focus()
}

// Status and outcome.

function renderStatus (view) {
  const { run } = view
  const [status, text] = statusOf(view)
  if (view.item.dataset.status !== status || view.status.textContent !== text) {
    view.item.dataset.status = status
    view.section.dataset.status = status
    view.status.textContent = text
    view.state.textContent = capitalize(text)
  }
  view.stop.disabled = run.ended || view.stopRequested || view.cancelRequested
  view.cancel.disabled = run.ended || view.cancelRequested

  if (!run.ended) return
  for (const entry of run.messages) {
    const node = entry.kind === 'message' && entry.streaming ? view.nodes.get(entry.key) : undefined
    if (node !== undefined) updateMessage(view, node, entry)
  }
  const outcome = run.outcome
  let line
  if (outcome?.type === 'result') {
    const count = Array.isArray(outcome.result.messages) ? outcome.result.messages.length : 0
    line = `${view.stopRequested ? 'Stopped' : 'Finished'}: ${outcome.result.stop_reason ?? 'no stop reason'} (${count} messages)`
  } else if (outcome?.type === 'cancelled') {
    line = `Cancelled (${outcome.reason})`
  } else if (run.error?.code === 'AGS_CONNECTION_LOST' || run.error?.code === 'AGS_CLIENT_CLOSED') {
    line = 'The connection was lost for good: reload the page to resume this run.'
  } else {
    line = `Failed: ${run.error?.code ?? 'error'}: ${run.error?.message ?? 'unknown error'}`
  }
  view.outcome.textContent = line
  view.outcome.dataset.outcome = status
  view.outcome.hidden = false
}

/** [data-status, label] of a run. */
function statusOf (view) {
  const { run } = view
  switch (run.state) {
    case 'starting': return ['starting', 'starting…']
    case 'queued': return ['queued', `queued${run.queuePosition ? ` (#${run.queuePosition})` : ''}`]
    case 'running':
      if (view.cancelRequested) return ['cancelling', 'cancelling…']
      if (view.forms.size > 0) return ['input', 'waiting for your reply']
      if (view.stopRequested) return ['stopping', 'stopping after this turn…']
      return ['running', 'running']
  }
  const outcome = run.outcome
  if (outcome?.type === 'result') return ['result', view.stopRequested ? 'stopped' : 'finished']
  if (outcome?.type === 'cancelled') return ['cancelled', 'cancelled']
  if (run.error?.code === 'AGS_CONNECTION_LOST' || run.error?.code === 'AGS_CLIENT_CLOSED') return ['lost', 'connection lost']
  return ['error', 'failed']
}

function showRunNotice (view, text) {
  view.runNotice.textContent = text
  view.runNotice.hidden = false
}

function showNotice (text) {
  els.notice.textContent = text
  els.notice.hidden = false
}

function hideNotice () {
  els.notice.hidden = true
  els.notice.textContent = ''
}

// Input requests: an inline reply box each.

/**
 * The requests to show a reply box for: the ones the run waits for. A page
 * that attached from the start (a reload) is sent the run's whole log; the
 * server marks a replayed request that was answered since (`answered`), and
 * the client does not list it as pending.
 */
function pendingReplies (view) {
  const { run } = view
  return run.ended ? [] : [...run.pendingInputs.values()]
}

function renderReplies (view) {
  // Catching up after an attach: the boxes shown stay as they are (with what was typed in them).
  if (!view.run.ended && view.horizon !== undefined) return
  const pending = pendingReplies(view)
  const wanted = new Set(pending.map((request) => request.requestId))
  for (const [requestId, form] of view.forms) {
    if (wanted.has(requestId)) continue
    const hadFocus = form.contains(document.activeElement)
    form.remove()
    view.forms.delete(requestId)
    if (hadFocus) view.title.focus()
  }
  for (const request of pending) {
    if (view.forms.has(request.requestId)) continue
    const form = replyForm(view, request)
    view.forms.set(request.requestId, form)
    view.replies.append(form)
    if (view === selected) form.querySelector('input').focus()
  }
  renderStatus(view)
}

function replyForm (view, request) {
  const id = `run-${view.n}-reply-${view.forms.size + 1}-${++counter}`
  const asker = askerOf(view, request.requestId)
  const input = h('input', { id, type: 'text', autocomplete: 'off', maxlength: '4000' })
  const form = h('form', { class: 'reply', 'data-request-id': request.requestId },
    h('label', { for: id },
      who(asker), ` is asked${request.prompt ? `: ${request.prompt.trim()}` : ' for input'}`),
    h('div', { class: 'row' }, input, h('button', { type: 'submit' }, 'Send')))
  form.addEventListener('submit', (event) => {
    event.preventDefault()
    view.run.respond(request.requestId, input.value)
    renderReplies(view)
  })
  return form
}

/** Who asks: the source of the UserInputRequestedEvent with this request id (the bridge uses AutoGen's id). */
function askerOf (view, requestId) {
  for (const entry of view.run.messages) if (entry.kind === 'input_requested' && entry.requestId === requestId) return entry.source
  return 'The team'
}

// Transcript entries.

function renderEntry (view, entry) {
  const old = view.nodes.get(entry.key)
  if (old !== undefined && entry.kind === 'message') {
    updateMessage(view, old, entry)
  } else {
    const node = buildEntry(view, entry)
    if (old === undefined) view.transcript.append(node)
    else old.replaceWith(node)
    view.nodes.set(entry.key, node)
  }
  if (entry.kind === 'tool_results') {
    // The results were paired into their calls: redraw those.
    for (const result of entry.results ?? []) {
      const key = view.callOwners.get(result.call_id)
      const owner = key === undefined ? undefined : view.run.messages.find((e) => e.key === key)
      if (owner !== undefined) renderEntry(view, owner)
    }
  }
  if ((entry.kind === 'message' && !entry.streaming) || entry.kind === 'input_requested') renderReplies(view)
}

function buildEntry (view, entry) {
  const base = { class: `entry ${entry.kind}`, 'data-kind': entry.kind, 'data-key': entry.key }
  if ('source' in entry) base['data-source'] = entry.source
  switch (entry.kind) {
    case 'message': {
      const node = h('li', base,
        h('div', { class: 'meta' }, who(entry.source), h('span', { class: 'type' }), h('time')),
        h('div', { class: 'text' }))
      updateMessage(view, node, entry)
      return node
    }
    case 'tool_calls':
      for (const call of entry.calls) view.callOwners.set(call.id, entry.key)
      return h('li', base,
        h('div', { class: 'meta' }, who(entry.source), h('span', { class: 'type' }, entry.calls.length === 1 ? 'calls a tool' : `calls ${entry.calls.length} tools`)),
        entry.calls.map(toolCall))
    case 'tool_results': {
      // Shown with their calls; a result whose call is unknown is shown here.
      const orphans = (entry.results ?? []).filter((result) => !view.callOwners.has(result.call_id))
      return h('li', { ...base, hidden: orphans.length === 0 },
        h('div', { class: 'meta' }, who(entry.source), h('span', { class: 'type' }, 'tool results')),
        orphans.map((result) => h('pre', { class: result.is_error ? 'result error' : 'result' }, String(result.content))))
    }
    case 'thought':
      return h('li', base,
        h('details', {},
          h('summary', {}, who(entry.source), ' thinks'),
          h('p', { class: 'text' }, entry.text)))
    case 'speaker':
      return h('li', base,
        h('p', {}, 'Next speaker: ', h('strong', {}, entry.speakers.join(', ') || 'none')))
    case 'input_requested':
      return h('li', base, h('p', {}, who(entry.source), ' is asked for input'))
    case 'gap':
      return h('li', { ...base, role: 'note' },
        h('p', {}, `Part of this run is missing here: frames ${entry.from} to ${entry.to} were no longer kept by the server when this page came back.`))
    default:
      return h('li', base,
        h('div', { class: 'meta' }, who(entry.source), h('span', { class: 'type' }, entry.type)),
        h('details', {}, h('summary', {}, 'details'), h('pre', {}, describe(entry.event))))
  }
}

/** A message: streaming until its final version arrives; cut off if the run ended first (a stop or a cancel mid-message). */
function updateMessage (view, node, entry) {
  const cut = entry.streaming && view.run.ended
  node.classList.toggle('streaming', entry.streaming && !cut)
  node.classList.toggle('cut', cut)
  node.querySelector('.type').textContent = cut ? 'cut off' : entry.streaming ? 'typing…' : messageLabel(entry.type)
  const time = node.querySelector('time')
  const at = entry.event?.created_at
  if (typeof at === 'string' && time.dateTime !== at) {
    time.dateTime = at
    time.textContent = clock(at)
  }
  const text = node.querySelector('.text')
  if (text.textContent !== entry.text) text.textContent = entry.text
}

function toolCall (call) {
  const result = call.result === undefined
    ? h('p', { class: 'pending' }, 'waiting for the result…')
    : h('div', { class: call.isError ? 'result error' : 'result' },
      h('span', { class: 'label' }, call.isError ? 'Error' : 'Result'), h('pre', {}, call.result))
  return h('div', { class: 'call', 'data-call-id': call.id },
    h('p', { class: 'name' }, h('code', {}, call.name)),
    h('pre', { class: 'args', 'aria-label': 'Arguments' }, prettyJson(call.arguments)),
    result)
}

function messageLabel (type) {
  if (type === 'TextMessage') return ''
  if (type === 'ToolCallSummaryMessage') return 'tool summary'
  if (type === 'HandoffMessage') return 'hands off'
  if (type === 'StopMessage') return 'stops'
  return type
}

/** A color per agent, in order of appearance on this page. */
const PALETTE = 6
const colors = new Map()
function who (source) {
  if (!colors.has(source)) colors.set(source, colors.size % PALETTE)
  return h('span', { class: `who who-${colors.get(source)}` }, source || 'team')
}

// Helpers.

/** Keeps the page scrolled to the bottom while the selected run streams, if it was there. */
function stickToBottom (view, change) {
  const root = document.scrollingElement ?? document.documentElement
  const atBottom = view === selected && root.scrollHeight - (root.scrollTop + window.innerHeight) < 48
  change()
  if (atBottom && root.scrollHeight > window.innerHeight) root.scrollTop = root.scrollHeight
}

function prettyJson (text) {
  try {
    return JSON.stringify(JSON.parse(text), null, 2)
  } catch {
    return String(text)
  }
}

function describe (event) {
  if (event === undefined) return ''
  const { id, created_at: createdAt, metadata, models_usage: usage, ...rest } = event
  return JSON.stringify(rest, null, 2)
}

function clock (iso) {
  const date = new Date(iso)
  return Number.isNaN(date.getTime()) ? '' : date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' })
}

function seconds (ms) {
  return (ms / 1000).toFixed(1)
}

function capitalize (text) {
  return text.charAt(0).toUpperCase() + text.slice(1)
}

function byId (id) {
  const el = document.getElementById(id)
  if (el === null) throw new Error(`#${id} is missing from the page`)
  return el
}

/** An element; strings among the children become text nodes, attributes are set as text. */
function h (tag, attributes = {}, ...children) {
  const el = document.createElement(tag)
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue
    el.setAttribute(name, value === true ? '' : String(value))
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue
    el.append(typeof child === 'string' ? document.createTextNode(child) : child)
  }
  return el
}

// Start: after a reload, every run that had not ended comes back, its
// transcript rebuilt; the newest is shown. Then the connection opens (the
// indicator shows it) whether or not there is a run to read yet.
const restored = client.restore().map(addView)
if (restored.length > 0) select(restored[restored.length - 1])
client.connect()
