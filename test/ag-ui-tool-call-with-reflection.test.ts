import t from 'tap'
import { agUiServer, collapsed, protocolErrors, runAgent, textOf } from './fixtures/ag-ui.js'
import { examplesRunner } from './fixtures/python.js'

t.test('a tool call with reflection: TOOL_CALL_START/ARGS/END, TOOL_CALL_RESULT with is_error, then the streamed reflection', async (t) => {
  const { url } = await agUiServer(t, { runner: examplesRunner() })
  const run = await runAgent(url, { params: { forwardedProps: { example: 'reflecting_tool_agent' } } })
  t.equal(run.error, undefined)
  t.same(run.warnings, [])
  const events = run.raw.map((e) => e.event)
  t.same(await protocolErrors(events), [])
  t.same(collapsed(events), [
    'RUN_STARTED', 'CUSTOM',
    'TOOL_CALL_START', 'TOOL_CALL_ARGS', 'TOOL_CALL_END', 'TOOL_CALL_RESULT',
    'TEXT_MESSAGE_START', 'TEXT_MESSAGE_CONTENT', 'TEXT_MESSAGE_END',
    'RUN_FINISHED'
  ])
  const [start, args, end, result, reflection] = events.slice(2, 7) as Array<Record<string, any>>
  const request = start?.rawEvent as Record<string, any>
  t.match(request, { type: 'ToolCallRequestEvent', source: 'assistant', models_usage: { prompt_tokens: 12, completion_tokens: 8 } })
  t.same({ ...start, rawEvent: undefined }, { type: 'TOOL_CALL_START', toolCallId: 'call_1', toolCallName: 'get_weather', parentMessageId: request.id, rawEvent: undefined }, 'the calls are a message of their own: the request\'s id')
  t.same(args, { type: 'TOOL_CALL_ARGS', toolCallId: 'call_1', delta: '{"city": "Paris"}' })
  t.same(end, { type: 'TOOL_CALL_END', toolCallId: 'call_1' })
  const execution = result?.rawEvent as Record<string, any>
  t.same({ ...result, rawEvent: undefined }, {
    type: 'TOOL_CALL_RESULT',
    messageId: `${String(execution.id)}:0`,
    toolCallId: 'call_1',
    content: 'The weather in Paris is sunny, 21 degrees.',
    role: 'tool',
    metadata: { autogen: { name: 'get_weather', is_error: false } },
    rawEvent: undefined
  }, "AutoGen's is_error (and the tool's name) in metadata")
  t.match(reflection, { type: 'TEXT_MESSAGE_START', role: 'assistant', name: 'assistant' })
  t.equal(textOf(events, reflection?.messageId), 'It is sunny in Paris today, 21 degrees.')
  t.same((events.at(-1) as Record<string, any>).usage, [{ inputTokens: 33, outputTokens: 16, totalTokens: 49 }], 'both model calls: the tool call (12 + 8) and the reflection')

  t.same(run.result?.newMessages, [
    { id: request.id, role: 'assistant', toolCalls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city": "Paris"}' } }] },
    { id: `${String(execution.id)}:0`, toolCallId: 'call_1', role: 'tool', content: 'The weather in Paris is sunny, 21 degrees.', metadata: { autogen: { name: 'get_weather', is_error: false } } },
    { id: reflection?.messageId, role: 'assistant', content: 'It is sunny in Paris today, 21 degrees.', name: 'assistant' }
  ], 'HttpAgent assembles the call, its result and the answer as an OpenAI-style conversation')
})
