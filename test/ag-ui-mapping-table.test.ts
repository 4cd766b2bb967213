import t from 'tap'
import fc from 'fast-check'
import { AgUiMapper, INITIAL_STATE, type MappedFrame } from '../lib/ag-ui/mapping.js'
import type { AgUiEvent } from '../lib/ag-ui/events.js'
import type { RunFrame } from '../lib/index.js'
import { protocolErrors, types } from './fixtures/ag-ui.js'

/*
 * The mapping of docs/ag-ui.md, row by row, on frames as the run log holds
 * them; then the protocol's own rules (AG-UI's EventSchemas and
 * verifyEvents) on every sequence fast-check can make of the frames.
 */

const ids = { threadId: 'thread-1', runId: 'run-1' }
const base = { runId: 'run-1' }
const at = '2026-01-02T03:04:05Z'

const started = (seq = 0): RunFrame => ({ type: 'started', ...base, seq })
const token = (seq: number, text: string, opts: { source?: string, id?: string | null, chunks?: number } = {}): RunFrame =>
  ({ type: 'token', ...base, seq, source: opts.source ?? 'assistant', full_message_id: opts.id === undefined ? 'm1' : opts.id, text, chunks: opts.chunks ?? 1 })
const event = (seq: number, e: Record<string, unknown>): RunFrame =>
  ({ type: 'event', ...base, seq, event: { id: `e${seq}`, source: 'assistant', models_usage: null, metadata: {}, created_at: at, ...e } as any })
const result = (seq: number, usage?: { prompt_tokens: number, completion_tokens: number }): RunFrame =>
  ({ type: 'result', ...base, seq, result: { type: 'TaskResult', messages: [], stop_reason: 'done' }, ...(usage === undefined ? {} : { usage }) })

function map (frames: MappedFrame[]): AgUiEvent[] {
  const mapper = new AgUiMapper(ids)
  return frames.flatMap((f) => mapper.map(f))
}

/** The events without rawEvent (checked on its own where it matters). */
const bare = (events: AgUiEvent[]): unknown[] => events.map(({ rawEvent, ...rest }) => rest)

t.test('RUN_STARTED first, with the thread and run ids and the protocol version', async (t) => {
  t.same(map([started()]), [{ type: 'RUN_STARTED', threadId: 'thread-1', runId: 'run-1', protocolVersion: '1.0' }])
})

t.test('chunks: TEXT_MESSAGE_START (with the agent name) / CONTENT / END by full_message_id; the final message closes it, its JSON in rawEvent', async (t) => {
  const final = { type: 'TextMessage', id: 'm1', content: 'Hello world' }
  const events = map([started(), token(1, 'Hello'), token(3, ' world', { chunks: 2 }), event(4, final), result(5)])
  t.same(bare(events).slice(1, -1), [
    { type: 'TEXT_MESSAGE_START', messageId: 'm1', role: 'assistant', name: 'assistant' },
    { type: 'TEXT_MESSAGE_CONTENT', messageId: 'm1', delta: 'Hello' },
    { type: 'TEXT_MESSAGE_CONTENT', messageId: 'm1', delta: ' world' },
    { type: 'TEXT_MESSAGE_END', messageId: 'm1' }
  ])
  t.match(events[4]?.rawEvent, final)
  t.same(await protocolErrors(events), [])
})

t.test('chunks without a message id: one message per source, its id made of the run and its first seq', async (t) => {
  const events = map([started(), token(4, 'a', { id: null, chunks: 3 }), token(5, 'b', { id: null }), result(6)])
  t.same(bare(events).slice(1, 4), [
    { type: 'TEXT_MESSAGE_START', messageId: 'run-1:2', role: 'assistant', name: 'assistant' },
    { type: 'TEXT_MESSAGE_CONTENT', messageId: 'run-1:2', delta: 'a' },
    { type: 'TEXT_MESSAGE_CONTENT', messageId: 'run-1:2', delta: 'b' }
  ])
  t.same(types(events).slice(4), ['TEXT_MESSAGE_END', 'RUN_FINISHED'])
})

t.test('two sources streaming at once: two messages open together, each closed by its own final message', async (t) => {
  const events = map([
    started(), token(1, 'a', { source: 'writer', id: 'w' }), token(2, 'b', { source: 'critic', id: 'c' }), token(3, 'a2', { source: 'writer', id: 'w' }),
    event(4, { type: 'TextMessage', id: 'c', source: 'critic', content: 'b' }), event(5, { type: 'TextMessage', id: 'w', source: 'writer', content: 'aa2' }), result(6)
  ])
  t.same(events.slice(1, -1).map((e) => `${e.type} ${(e as { messageId?: string }).messageId}`), [
    'TEXT_MESSAGE_START w', 'TEXT_MESSAGE_CONTENT w', 'TEXT_MESSAGE_START c', 'TEXT_MESSAGE_CONTENT c', 'TEXT_MESSAGE_CONTENT w', 'TEXT_MESSAGE_END c', 'TEXT_MESSAGE_END w'
  ])
  t.same(await protocolErrors(events), [])
})

t.test('a message that was not streamed: START / CONTENT / END with its own id; StopMessage and ToolCallSummaryMessage alike', async (t) => {
  for (const type of ['TextMessage', 'StopMessage', 'ToolCallSummaryMessage']) {
    const events = map([started(), event(1, { type, content: 'Done.' }), result(2)])
    t.same(bare(events).slice(1, -1), [
      { type: 'TEXT_MESSAGE_START', messageId: 'e1', role: 'assistant', name: 'assistant' },
      { type: 'TEXT_MESSAGE_CONTENT', messageId: 'e1', delta: 'Done.' },
      { type: 'TEXT_MESSAGE_END', messageId: 'e1' }
    ], type)
    t.equal(events[1]?.rawEvent !== undefined && (events[1].rawEvent as { type: string }).type, type)
  }
})

t.test("the task AutoGen echoes first (source user): CUSTOM, not a message (the client has it); a later message from 'user' is one", async (t) => {
  const task = { type: 'TextMessage', source: 'user', content: 'Hello' }
  const events = map([started(), event(1, task), event(2, { type: 'TextMessage', content: 'Hi' }), event(3, { ...task, id: 'later', content: 'again' }), result(4)])
  t.same(types(events), ['RUN_STARTED', 'CUSTOM', 'TEXT_MESSAGE_START', 'TEXT_MESSAGE_CONTENT', 'TEXT_MESSAGE_END', 'TEXT_MESSAGE_START', 'TEXT_MESSAGE_CONTENT', 'TEXT_MESSAGE_END', 'RUN_FINISHED'])
  t.match(events[1], { type: 'CUSTOM', name: 'TextMessage', value: task })
  t.match(events[5], { type: 'TEXT_MESSAGE_START', messageId: 'later', name: 'user' })
})

t.test("a source that asked for human input (a UserProxyAgent): its messages are the human's, role user", async (t) => {
  const events = map([
    started(), event(1, { type: 'TextMessage', source: 'assistant', content: 'Approve?' }),
    event(2, { type: 'UserInputRequestedEvent', source: 'human', request_id: 'r1', content: '' }),
    { type: 'input_request', ...base, seq: 3, requestId: 'r1', prompt: '' },
    event(4, { type: 'TextMessage', source: 'human', content: 'APPROVE' }), result(5)
  ])
  t.same(bare(events).slice(5, 9), [
    { type: 'CUSTOM', name: 'autogen-stream.input_request', value: { requestId: 'r1', prompt: '' } },
    { type: 'TEXT_MESSAGE_START', messageId: 'e4', role: 'user', name: 'human' },
    { type: 'TEXT_MESSAGE_CONTENT', messageId: 'e4', delta: 'APPROVE' },
    { type: 'TEXT_MESSAGE_END', messageId: 'e4' }
  ])
  t.same(await protocolErrors(events), [])
})

t.test("a run that continues an interrupted one (resume): its task, AutoGen's first message, is the human's answer, a user message", async (t) => {
  const mapper = new AgUiMapper({ ...ids, continuation: true })
  const answer = { type: 'TextMessage', source: 'user', content: 'APPROVE' }
  const events = [started(), event(1, answer), event(2, { type: 'TextMessage', content: 'Done.' }), result(3)].flatMap((f) => mapper.map(f))
  t.same(bare(events).slice(1, 4), [
    { type: 'TEXT_MESSAGE_START', messageId: 'e1', role: 'user', name: 'user' },
    { type: 'TEXT_MESSAGE_CONTENT', messageId: 'e1', delta: 'APPROVE' },
    { type: 'TEXT_MESSAGE_END', messageId: 'e1' }
  ])
  t.match(events[1]?.rawEvent, answer)
  t.match(events[4], { type: 'TEXT_MESSAGE_START', role: 'assistant', name: 'assistant' })
  t.same(await protocolErrors(events), [])
})

t.test('ToolCallRequestEvent: TOOL_CALL_START / ARGS / END per call, under the message the agent was streaming (closed first), else one of its own', async (t) => {
  const calls = [{ id: 'c1', name: 'get_weather', arguments: '{"city": "Paris"}' }, { id: 'c2', name: 'get_time', arguments: '' }]
  const events = map([started(), token(1, 'Let me look.', { id: 'm1' }), event(2, { type: 'ToolCallRequestEvent', content: calls }), event(3, { type: 'ToolCallRequestEvent', content: [calls[0]] }), result(4)])
  t.same(bare(events).slice(1, -1), [
    { type: 'TEXT_MESSAGE_START', messageId: 'm1', role: 'assistant', name: 'assistant' },
    { type: 'TEXT_MESSAGE_CONTENT', messageId: 'm1', delta: 'Let me look.' },
    { type: 'TEXT_MESSAGE_END', messageId: 'm1' },
    { type: 'TOOL_CALL_START', toolCallId: 'c1', toolCallName: 'get_weather', parentMessageId: 'm1' },
    { type: 'TOOL_CALL_ARGS', toolCallId: 'c1', delta: '{"city": "Paris"}' },
    { type: 'TOOL_CALL_END', toolCallId: 'c1' },
    { type: 'TOOL_CALL_START', toolCallId: 'c2', toolCallName: 'get_time', parentMessageId: 'm1' },
    { type: 'TOOL_CALL_ARGS', toolCallId: 'c2', delta: '' },
    { type: 'TOOL_CALL_END', toolCallId: 'c2' },
    { type: 'TOOL_CALL_START', toolCallId: 'c1', toolCallName: 'get_weather', parentMessageId: 'e3' },
    { type: 'TOOL_CALL_ARGS', toolCallId: 'c1', delta: '{"city": "Paris"}' },
    { type: 'TOOL_CALL_END', toolCallId: 'c1' }
  ])
  t.equal(events.findIndex((e) => e.rawEvent !== undefined), 4, 'the request rides on its first TOOL_CALL_START, not on the END it caused')
  t.same(await protocolErrors(events), [])
})

t.test('ToolCallExecutionEvent: TOOL_CALL_RESULT per result, AutoGen\'s is_error and tool name in metadata', async (t) => {
  const results = [
    { content: 'sunny', name: 'get_weather', call_id: 'c1', is_error: false },
    { content: 'no such city', name: 'get_weather', call_id: 'c2', is_error: true },
    { content: 'unknown', name: 'get_time', call_id: 'c3', is_error: null }
  ]
  const events = map([started(), event(1, { type: 'ToolCallExecutionEvent', content: results }), result(2)])
  t.same(bare(events).slice(1, -1), [
    { type: 'TOOL_CALL_RESULT', messageId: 'e1:0', toolCallId: 'c1', content: 'sunny', role: 'tool', metadata: { autogen: { name: 'get_weather', is_error: false } } },
    { type: 'TOOL_CALL_RESULT', messageId: 'e1:1', toolCallId: 'c2', content: 'no such city', role: 'tool', metadata: { autogen: { name: 'get_weather', is_error: true } } },
    { type: 'TOOL_CALL_RESULT', messageId: 'e1:2', toolCallId: 'c3', content: 'unknown', role: 'tool', metadata: { autogen: { name: 'get_time' } } }
  ])
  t.same(await protocolErrors(events), [])
})

t.test('ThoughtEvent: a REASONING span with one message; a thought with the id of the open message (AgentChat reuses it) gets its own', async (t) => {
  const events = map([started(), token(1, 'Answer.'), event(2, { type: 'ThoughtEvent', id: 'm1', content: 'Short is best.' }), event(3, { type: 'TextMessage', id: 'm2', content: 'Answer.' }), result(4)])
  t.same(bare(events).slice(1, -1), [
    { type: 'TEXT_MESSAGE_START', messageId: 'm1', role: 'assistant', name: 'assistant' },
    { type: 'TEXT_MESSAGE_CONTENT', messageId: 'm1', delta: 'Answer.' },
    { type: 'REASONING_START', messageId: 'm1:thought' },
    { type: 'REASONING_MESSAGE_START', messageId: 'm1:thought', role: 'reasoning' },
    { type: 'REASONING_MESSAGE_CONTENT', messageId: 'm1:thought', delta: 'Short is best.' },
    { type: 'REASONING_MESSAGE_END', messageId: 'm1:thought' },
    { type: 'REASONING_END', messageId: 'm1:thought' },
    { type: 'TEXT_MESSAGE_END', messageId: 'm1' }
  ])
  t.same(bare(map([started(), event(1, { type: 'ThoughtEvent', content: 'Hmm.' })])).slice(1, 2), [{ type: 'REASONING_START', messageId: 'e1' }])
  t.same(await protocolErrors(events), [])
})

t.test('SelectSpeakerEvent and HandoffMessage: a step per speaker, finished by the next one and before the run\'s end', async (t) => {
  const events = map([
    started(), event(1, { type: 'SelectSpeakerEvent', source: 'team', content: ['writer'] }), token(2, 'Draft.', { source: 'writer', id: 'w' }),
    event(3, { type: 'HandoffMessage', source: 'writer', target: 'critic', content: 'Over to you', context: [] }), event(4, { type: 'SelectSpeakerEvent', source: 'team', content: ['critic'] }), result(5)
  ])
  t.same(bare(events).slice(1, -1), [
    { type: 'STEP_STARTED', stepName: 'writer' },
    { type: 'TEXT_MESSAGE_START', messageId: 'w', role: 'assistant', name: 'writer' },
    { type: 'TEXT_MESSAGE_CONTENT', messageId: 'w', delta: 'Draft.' },
    { type: 'TEXT_MESSAGE_END', messageId: 'w' },
    { type: 'STEP_FINISHED', stepName: 'writer' },
    { type: 'STEP_STARTED', stepName: 'critic' },
    { type: 'STEP_FINISHED', stepName: 'critic' },
    { type: 'STEP_STARTED', stepName: 'critic' },
    { type: 'STEP_FINISHED', stepName: 'critic' }
  ])
  t.match(events[6]?.rawEvent, { type: 'HandoffMessage', target: 'critic' }, 'the handoff rides on the step it starts')
  t.same(await protocolErrors(events), [])
})

t.test('every other AutoGen type (and a tool call or result AG-UI could not carry): CUSTOM named by its type, with the AutoGen JSON', async (t) => {
  const others = [
    { type: 'MemoryQueryEvent', content: [] },
    { type: 'MultiModalMessage', content: ['a picture:', { data: 'iVBOR' }] },
    { type: 'StructuredMessage[Weather]', content: { city: 'Paris' }, format_string: null },
    { type: 'UserInputRequestedEvent', request_id: 'r1', content: '' },
    { type: 'CodeGenerationEvent', retry_attempt: 0, content: 'print(1)', code_blocks: [] },
    { type: 'CodeExecutionEvent', retry_attempt: 0, result: { exit_code: 0, output: '1' } },
    { type: 'SelectorEvent', content: 'hi' },
    { type: 'SomethingNewIn08', content: 42 },
    { type: 'ToolCallRequestEvent', content: [{ id: 'c1' }] },
    { type: 'ToolCallExecutionEvent', content: [{ call_id: 'c1' }] },
    { type: 'SelectSpeakerEvent', content: [] }
  ]
  const events = map([started(), ...others.map((e, i) => event(i + 1, e)), result(others.length + 1)])
  t.same(events.slice(1, -1), others.map((e, i) => ({ type: 'CUSTOM', name: e.type, value: { id: `e${i + 1}`, source: 'assistant', models_usage: null, metadata: {}, created_at: at, ...e } })))
  t.same(await protocolErrors(events), [])
})

t.test('queued and input_request frames: CUSTOM events of ours', async (t) => {
  const events = map([
    started(), { type: 'queued', ...base, seq: 1, position: 3 },
    { type: 'input_request', ...base, seq: 2, requestId: 'r1', prompt: 'Approve?' },
    { type: 'input_request', ...base, seq: 3, requestId: 'r2', prompt: '', answered: true }
  ])
  t.same(events.slice(1), [
    { type: 'CUSTOM', name: 'autogen-stream.queued', value: { position: 3 } },
    { type: 'CUSTOM', name: 'autogen-stream.input_request', value: { requestId: 'r1', prompt: 'Approve?' } },
    { type: 'CUSTOM', name: 'autogen-stream.input_request', value: { requestId: 'r2', prompt: '', answered: true } }
  ])
})

t.test('TaskResult: RUN_FINISHED with the result, outcome success and usage, after everything open is closed', async (t) => {
  const events = map([started(), event(1, { type: 'SelectSpeakerEvent', content: ['writer'] }), token(2, 'Hi', { source: 'writer', id: 'w' }), result(3, { prompt_tokens: 12, completion_tokens: 8 })])
  t.same(events.slice(-3), [
    { type: 'TEXT_MESSAGE_END', messageId: 'w' },
    { type: 'STEP_FINISHED', stepName: 'writer' },
    { type: 'RUN_FINISHED', threadId: 'thread-1', runId: 'run-1', result: { type: 'TaskResult', messages: [], stop_reason: 'done' }, outcome: { type: 'success' }, usage: [{ inputTokens: 12, outputTokens: 8, totalTokens: 20 }] }
  ])
  t.same(await protocolErrors(events), [])
})

t.test('a thread\'s state that was not saved: in the RUN_FINISHED metadata', async (t) => {
  const stateError = { code: 'AGS_THREAD_STATE_TOO_LARGE', message: 'too large' }
  const events = map([started(), { type: 'result', ...base, seq: 1, result: { type: 'TaskResult', messages: [], stop_reason: null }, stateError }])
  t.same(events[1]?.metadata, { 'autogen-stream': { stateError } })
})

t.test('cancel: RUN_FINISHED with outcome cancelled (the reason in metadata), everything open closed first', async (t) => {
  const events = map([started(), token(1, 'Hal'), { type: 'cancelled', ...base, seq: 2, reason: 'client', usage: { prompt_tokens: 1, completion_tokens: 1 } }])
  t.same(events.slice(1), [
    { type: 'TEXT_MESSAGE_START', messageId: 'm1', role: 'assistant', name: 'assistant' },
    { type: 'TEXT_MESSAGE_CONTENT', messageId: 'm1', delta: 'Hal' },
    { type: 'TEXT_MESSAGE_END', messageId: 'm1' },
    { type: 'RUN_FINISHED', threadId: 'thread-1', runId: 'run-1', outcome: { type: 'cancelled' }, usage: [{ inputTokens: 1, outputTokens: 1, totalTokens: 2 }], metadata: { 'autogen-stream': { reason: 'client' } } }
  ])
  t.same(await protocolErrors(events), [])
})

t.test('error: RUN_ERROR with our code and message, everything open closed first', async (t) => {
  const events = map([started(), event(1, { type: 'SelectSpeakerEvent', content: ['writer'] }), token(2, 'Hal'), { type: 'error', ...base, seq: 3, code: 'AGS_TASK_ERROR', message: 'The run failed' }])
  t.same(events.slice(-3), [
    { type: 'TEXT_MESSAGE_END', messageId: 'm1' },
    { type: 'STEP_FINISHED', stepName: 'writer' },
    { type: 'RUN_ERROR', message: 'The run failed', code: 'AGS_TASK_ERROR' }
  ])
  t.same(await protocolErrors(events), [])
})

t.test('interrupted (human input held past holdInputFor): RUN_FINISHED with outcome interrupt, reason input_required', async (t) => {
  const interrupted: MappedFrame = { type: 'interrupted', ...base, seq: 3, threadId: 'thread-1', requestId: 'req-1', prompt: 'Approve the plan?', source: 'user', usage: { prompt_tokens: 4, completion_tokens: 2 } }
  const events = map([started(), event(1, { type: 'UserInputRequestedEvent', source: 'user', request_id: 'req-1', content: '' }), { type: 'input_request', ...base, seq: 2, requestId: 'req-1', prompt: 'Approve the plan?' }, interrupted])
  t.same(events.at(-1), {
    type: 'RUN_FINISHED',
    threadId: 'thread-1',
    runId: 'run-1',
    outcome: { type: 'interrupt', interrupts: [{ id: 'req-1', reason: 'input_required', message: 'Approve the plan?', metadata: { source: 'user' } }] },
    usage: [{ inputTokens: 4, outputTokens: 2, totalTokens: 6 }]
  })
  const bareInterrupt = map([started(), { type: 'interrupted', ...base, seq: 1, requestId: 'req-2', prompt: '' }])
  t.same((bareInterrupt[1] as { outcome?: unknown }).outcome, { type: 'interrupt', interrupts: [{ id: 'req-2', reason: 'input_required' }] }, 'no empty message, no source: fields left out')
  t.same(await protocolErrors(events), [])
})

t.test('nothing after the terminal frame', async (t) => {
  const mapper = new AgUiMapper(ids)
  mapper.map(started())
  mapper.map(result(1))
  t.same(mapper.map(token(2, 'late')), [])
  t.same(mapper.map(result(3)), [])
})

t.test('the state between frames is a plain value: a mapper made from it maps on exactly as the first would have', async (t) => {
  const frames = [started(), event(1, { type: 'SelectSpeakerEvent', content: ['writer'] }), token(2, 'a', { source: 'writer', id: 'w' }), token(3, 'b', { source: 'critic', id: 'c' })]
  const rest = [token(4, 'c', { source: 'writer', id: 'w' }), event(5, { type: 'TextMessage', source: 'critic', id: 'c', content: 'b' }), result(6)]
  const whole = new AgUiMapper(ids)
  frames.forEach((f) => whole.map(f))
  const state = JSON.parse(JSON.stringify(whole.state))
  const resumed = new AgUiMapper(ids, state)
  t.same(rest.map((f) => resumed.map(f)), rest.map((f) => whole.map(f)))
  t.same(new AgUiMapper(ids).state, INITIAL_STATE)
})

// Frames a run can log, in any order a runner could make them (a started frame first, a terminal last).
const sources = ['writer', 'critic', 'user']
const frameArb = fc.oneof(
  fc.record({ kind: fc.constant('token'), source: fc.constantFrom(...sources), id: fc.constantFrom('m1', 'm2', null), text: fc.string({ maxLength: 4 }) }),
  fc.record({ kind: fc.constant('message'), type: fc.constantFrom('TextMessage', 'StopMessage', 'ToolCallSummaryMessage', 'MultiModalMessage', 'HandoffMessage', 'StructuredMessage[X]'), source: fc.constantFrom(...sources), id: fc.constantFrom('m1', 'm2', 'x') }),
  fc.record({ kind: fc.constant('event'), type: fc.constantFrom('ToolCallRequestEvent', 'ToolCallExecutionEvent', 'ThoughtEvent', 'SelectSpeakerEvent', 'MemoryQueryEvent', 'Unknown'), source: fc.constantFrom(...sources), id: fc.constantFrom('m1', 'm2', 't') }),
  fc.record({ kind: fc.constant('input') })
)
const terminalArb = fc.constantFrom('result', 'cancelled', 'error', 'interrupted')

function frameOf (spec: Record<string, any>, seq: number): RunFrame {
  switch (spec.kind) {
    case 'token': return token(seq, spec.text, { source: spec.source, id: spec.id })
    case 'message': return event(seq, { type: spec.type, source: spec.source, id: spec.id, content: spec.type === 'MultiModalMessage' ? ['x'] : 'text', target: 'critic', context: [] })
    case 'input': return { type: 'input_request', ...base, seq, requestId: `r${seq}`, prompt: 'ok?' }
    default: {
      const content = spec.type === 'ToolCallRequestEvent'
        ? [{ id: `call-${seq}`, name: 'f', arguments: '{}' }]
        : spec.type === 'ToolCallExecutionEvent' ? [{ call_id: 'call-1', name: 'f', content: 'r', is_error: false }] : spec.type === 'SelectSpeakerEvent' ? [spec.source] : 'thinking'
      return event(seq, { type: spec.type, source: spec.source, id: spec.id, content })
    }
  }
}

function terminalOf (kind: string, seq: number): MappedFrame {
  if (kind === 'result') return result(seq, { prompt_tokens: 1, completion_tokens: 2 })
  if (kind === 'cancelled') return { type: 'cancelled', ...base, seq, reason: 'client' }
  if (kind === 'error') return { type: 'error', ...base, seq, code: 'X', message: 'x' }
  return { type: 'interrupted', ...base, seq, requestId: 'r', prompt: 'p' }
}

t.test('any frames a run can log give events that pass EventSchemas and verifyEvents, and resume exactly from any state', async (t) => {
  await fc.assert(fc.asyncProperty(fc.array(frameArb, { maxLength: 30 }), terminalArb, fc.nat(), async (specs, terminal, cutAt) => {
    const frames: MappedFrame[] = [started(), ...specs.map((s, i) => frameOf(s, i + 1)), terminalOf(terminal, specs.length + 1)]
    const events = map(frames)
    const errors = await protocolErrors(events)
    if (errors.length > 0) throw new Error(errors.join('\n'))
    if (!['RUN_FINISHED', 'RUN_ERROR'].includes(events.at(-1)?.type ?? '')) throw new Error('the run does not end with its terminal event')
    // Cut anywhere: a mapper made from the state there (as JSON, as checkpoints keep it) maps the rest exactly as the first did.
    const cut = cutAt % frames.length
    const first = new AgUiMapper(ids)
    const head = frames.slice(0, cut).flatMap((f) => first.map(f))
    const resumed = new AgUiMapper(ids, JSON.parse(JSON.stringify(first.state)))
    const rest = frames.slice(cut).flatMap((f) => resumed.map(f))
    if (JSON.stringify([...head, ...rest]) !== JSON.stringify(events)) throw new Error(`resuming at frame ${cut} differs`)
  }), { numRuns: 300 })
  t.pass('300 sequences')
})
