import t from 'tap'
import { agUiServer, collapsed, idsAscend, protocolErrors, runAgent, STREAMING_TEXT, textOf } from './fixtures/ag-ui.js'
import { examplesRunner } from './fixtures/python.js'

t.test("a streamed answer reaches AG-UI's stock HttpAgent as one assistant message, chunk by chunk, through the Python bridge", async (t) => {
  const { url } = await agUiServer(t, { runner: examplesRunner() })
  const run = await runAgent(url, {
    threadId: 'thread-1',
    messages: [{ id: 'user-1', role: 'user', content: 'Tell me about backpressure' }],
    params: { runId: 'run-1', forwardedProps: { example: 'streaming_agent' } }
  })
  t.equal(run.error, undefined, 'runAgent() resolved')
  t.same(run.warnings, [], 'the client stripped nothing and warned of nothing')
  t.equal(run.headers?.get('content-type'), 'text/event-stream; charset=utf-8')
  const events = run.raw.map((e) => e.event)
  t.same(await protocolErrors(events), [], 'every event passes EventSchemas, the sequence passes verifyEvents')

  t.same(collapsed(events), ['RUN_STARTED', 'CUSTOM', 'TEXT_MESSAGE_START', 'TEXT_MESSAGE_CONTENT', 'TEXT_MESSAGE_END', 'RUN_FINISHED'])
  t.same(events[0], { type: 'RUN_STARTED', threadId: 'thread-1', runId: 'run-1', protocolVersion: '1.0' })
  t.match(events[1], { type: 'CUSTOM', name: 'TextMessage', value: { source: 'user', content: 'Tell me about backpressure' } }, "AutoGen's echo of the task")
  const start = events[2] as Record<string, any>
  t.match(start, { type: 'TEXT_MESSAGE_START', role: 'assistant', name: 'assistant' })
  t.equal(textOf(events, start.messageId), STREAMING_TEXT)
  const end = events.at(-2) as Record<string, any>
  t.same({ type: end.type, messageId: end.messageId }, { type: 'TEXT_MESSAGE_END', messageId: start.messageId })
  t.match(end.rawEvent, { type: 'TextMessage', id: start.messageId, source: 'assistant', content: STREAMING_TEXT }, 'the final message rides on its END: its id is the chunks\' full_message_id')

  const finished = events.at(-1) as Record<string, any>
  t.same(Object.keys(finished), ['type', 'threadId', 'runId', 'result', 'outcome', 'usage'])
  t.same([finished.threadId, finished.runId, finished.outcome], ['thread-1', 'run-1', { type: 'success' }])
  t.match(finished.result, { type: 'TaskResult', stop_reason: null, messages: [{ source: 'user' }, { source: 'assistant', content: STREAMING_TEXT }] })
  t.same(finished.usage, [{ inputTokens: 24, outputTokens: 24, totalTokens: 48 }], "the replay model's usage (a word a token), as AG-UI counts it")

  t.equal(run.raw[0]?.id, '0')
  t.ok(idsAscend(run.raw.map((e) => e.id)), `ids go forward: ${run.raw.map((e) => e.id).join(' ')}`)
  t.same(run.result?.newMessages, [{ id: start.messageId, role: 'assistant', content: STREAMING_TEXT, name: 'assistant' }], "the agent's new message, as HttpAgent assembles it")
})
