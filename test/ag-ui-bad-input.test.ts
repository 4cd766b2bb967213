import t from 'tap'
import { agUiServer, runAgent, runInput, SseClient } from './fixtures/ag-ui.js'
import { toStart } from '../lib/ag-ui/input.js'
import { result, text } from './fixtures/events.js'
import type { AutoGenEvent, RunRequest } from '../lib/index.js'

/*
 * What a POST may be, and what the runner gets of it: the body is checked
 * (size, depth, JSON, RunAgentInput's fields) before any run is made; the
 * answer names the field, with the error table's status and code.
 */

const json = (body: unknown): RequestInit => ({ body: JSON.stringify(body), headers: { 'content-type': 'application/json' } })
const BAD = 'Not a request this server can run: '

t.test('bodies that are not a RunAgentInput this server runs are refused, each saying why', async (t) => {
  const { app, url } = await agUiServer(t, { runner: async function * () { yield result() }, agUi: { bodyLimit: 4096 }, maxTaskBytes: 100 })
  const cases: Array<[string, RequestInit, number, string, string]> = [
    ['not JSON', { body: '{"threadId":', headers: { 'content-type': 'application/json' } }, 400, 'AGS_BAD_INPUT', `${BAD}the body is not JSON (Unexpected end of JSON input)`],
    ['not application/json', { body: 'hello', headers: { 'content-type': 'text/plain' } }, 400, 'AGS_BAD_INPUT', `${BAD}the body must be application/json (a RunAgentInput)`],
    ['no body', {}, 400, 'AGS_BAD_INPUT', `${BAD}the body must be a JSON object (RunAgentInput)`],
    ['an empty body typed JSON', { body: '', headers: { 'content-type': 'application/json' } }, 400, 'AGS_BAD_INPUT', `${BAD}the body must be a JSON object (RunAgentInput)`],
    ['a charset other than UTF-8', { body: JSON.stringify(runInput()), headers: { 'content-type': 'application/json; charset=latin1' } }, 400, 'AGS_BAD_INPUT', `${BAD}the body must be UTF-8 JSON (charset "latin1")`],
    ['an array', json([]), 400, 'AGS_BAD_INPUT', `${BAD}the body must be a JSON object (RunAgentInput)`],
    ['over bodyLimit', json(runInput({ state: { pad: 'x'.repeat(5000) } })), 413, 'AGS_BODY_TOO_LARGE', 'The request body is over 4096 bytes (agUi.bodyLimit)'],
    ['nested too deep', json(runInput({ state: JSON.parse('['.repeat(40) + ']'.repeat(40)) })), 400, 'AGS_BAD_INPUT', `${BAD}the body may nest at most 33 levels of arrays and objects (maxFrameDepth)`],
    ['no threadId', json({ ...runInput(), threadId: undefined }), 400, 'AGS_BAD_INPUT', `${BAD}missing field "threadId"`],
    ['no messages', json({ ...runInput(), messages: undefined }), 400, 'AGS_BAD_INPUT', `${BAD}missing field "messages"`],
    ['a runId that is no runId', json(runInput({ runId: 'a b' })), 400, 'AGS_BAD_INPUT', `${BAD}/runId: must match pattern "^[A-Za-z0-9._:-]+$"`],
    ['content that is no content', json(runInput({ messages: [{ id: 'u', role: 'user', content: 5 }] })), 400, 'AGS_BAD_INPUT', `${BAD}/messages/0/content: must be string or array`],
    ['no user message', json(runInput({ messages: [{ id: 'a', role: 'assistant', content: 'x' }] })), 400, 'AGS_BAD_INPUT', `${BAD}/messages: no user message to run`],
    ['an empty user message', json(runInput({ messages: [{ id: 'u', role: 'user', content: '' }] })), 400, 'AGS_BAD_INPUT', `${BAD}/messages/0: a user message without text`],
    ['a user message of no parts', json(runInput({ messages: [{ id: 'u', role: 'user', content: [] }] })), 400, 'AGS_BAD_INPUT', `${BAD}/messages/0: a user message without text`],
    ['an image part', json(runInput({ messages: [{ id: 'u', role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'image', source: { type: 'url', value: 'x' } }] }] })), 400, 'AGS_BAD_INPUT', `${BAD}/messages/0/content/1: only text parts are supported (got "image")`],
    ['forwardedProps not an object', json(runInput({ forwardedProps: [1] })), 400, 'AGS_BAD_INPUT', `${BAD}/forwardedProps: must be an object (it becomes the runner's options)`],
    ['forwardedProps.agUi', json(runInput({ forwardedProps: { agUi: 1 } })), 400, 'AGS_BAD_INPUT', `${BAD}/forwardedProps/agUi: reserved (the server puts AG-UI's tools, context and state there)`],
    ['two resume entries', json(runInput({ resume: [{ interruptId: 'a', status: 'resolved' }, { interruptId: 'b', status: 'resolved' }] })), 400, 'AGS_BAD_INPUT', `${BAD}/resume: AutoGen waits for one input at a time; send one entry`],
    ['a task over maxTaskBytes', json(runInput({ messages: [{ id: 'u', role: 'user', content: 'y'.repeat(200) }] })), 413, 'AGS_TASK_TOO_LARGE', 'The task is 202 bytes; at most 100 (maxTaskBytes)']
  ]
  for (const [name, init, status, code, message] of cases) {
    const res = await fetch(url, { method: 'POST', ...init })
    t.same([res.status, await res.json()], [status, { code, message }], name)
  }
  t.equal(app.autogenStream.counters.runsStarted, 0, 'no run was made')
})

t.test('what the runner gets: the last user message as the task (text parts joined), forwardedProps as options, tools, context and state under options.agUi', async (t) => {
  const requests: RunRequest[] = []
  const { url } = await agUiServer(t, {
    async * runner (request): AsyncGenerator<AutoGenEvent> {
      requests.push(request)
      yield text('ok')
      yield result()
    }
  })
  await runAgent(url, {
    messages: [
      { id: 'u1', role: 'user', content: 'An earlier question' },
      { id: 'a1', role: 'assistant', content: 'An earlier answer' },
      { id: 'u2', role: 'user', content: [{ type: 'text', text: 'Weather in ' }, { type: 'text', text: 'Paris?' }] }
    ],
    params: {
      runId: 'opts',
      forwardedProps: { model: 'small', example: 'tool_agent' },
      tools: [{ name: 'confirm', description: 'Ask the user', parameters: { type: 'object' } }],
      context: [{ description: 'locale', value: 'fr-FR' }]
    }
  })
  const plain = await runAgent(url, { params: { runId: 'plain' } })
  t.equal(plain.error, undefined)
  const withState = new SseClient(url, { body: runInput({ runId: 'state', state: { cart: ['book'] } }) })
  await withState.done
  t.same(requests.map((r) => [r.runId, r.task, r.options]), [
    ['opts', 'Weather in Paris?', {
      model: 'small',
      example: 'tool_agent',
      agUi: { tools: [{ name: 'confirm', description: 'Ask the user', parameters: { type: 'object' } }], context: [{ description: 'locale', value: 'fr-FR' }] }
    }],
    ['plain', 'Hello', {}],
    ['state', 'Hello', { agUi: { state: { cart: ['book'] } } }]
  ], "the stock client's empty tools, context and state pass nothing on")
})

t.test('a resume entry: resolved is the answer (a string as it is, anything else as JSON) instead of a task; cancelled is an ordinary run', async (t) => {
  const messages = [{ id: 'u1', role: 'user', content: 'Plan it' }]
  const entry = (status: string, payload?: unknown): unknown => runInput({ messages, resume: [{ interruptId: 'req-1', status, ...(payload === undefined ? {} : { payload }) }] })
  t.same(toStart(entry('resolved', 'APPROVE')), { threadId: 'thread-1', runId: 'run-1', options: {}, answer: { requestId: 'req-1', content: 'APPROVE' } })
  t.same(toStart(entry('resolved', { approve: true })), { threadId: 'thread-1', runId: 'run-1', options: {}, answer: { requestId: 'req-1', content: '{"approve":true}' } })
  t.same(toStart(entry('resolved')), { threadId: 'thread-1', runId: 'run-1', options: {}, answer: { requestId: 'req-1', content: '' } })
  t.same(toStart(entry('cancelled')), { threadId: 'thread-1', runId: 'run-1', options: {}, task: 'Plan it' })
})
