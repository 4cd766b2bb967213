import t from 'tap'
import { agUiServer, collapsed, protocolErrors, runAgent, textOf } from './fixtures/ag-ui.js'
import { examplesRunner } from './fixtures/python.js'

const THOUGHT = 'The user wants a short answer; one sentence will do.'

t.test('a thought: a REASONING span beside the streamed answer, which the final message closes', async (t) => {
  const { url } = await agUiServer(t, { runner: examplesRunner() })
  const run = await runAgent(url, { params: { forwardedProps: { example: 'thinking_agent' } } })
  t.equal(run.error, undefined)
  t.same(run.warnings, [])
  const events = run.raw.map((e) => e.event)
  t.same(await protocolErrors(events), [])
  t.same(collapsed(events), [
    'RUN_STARTED', 'CUSTOM',
    'TEXT_MESSAGE_START', 'TEXT_MESSAGE_CONTENT',
    'REASONING_START', 'REASONING_MESSAGE_START', 'REASONING_MESSAGE_CONTENT', 'REASONING_MESSAGE_END', 'REASONING_END',
    'TEXT_MESSAGE_END',
    'RUN_FINISHED'
  ])
  const answer = events[2]?.messageId as string
  const reasoning = events.filter((e) => e.type.startsWith('REASONING_'))
  t.same(reasoning.map((e) => e.messageId), Array(5).fill(`${answer}:thought`), "AgentChat gives the thought the chunks' id: the reasoning gets its own")
  t.match(reasoning[0]?.rawEvent, { type: 'ThoughtEvent', id: answer, content: THOUGHT })
  t.same({ ...reasoning[2], rawEvent: undefined }, { type: 'REASONING_MESSAGE_CONTENT', messageId: `${answer}:thought`, delta: THOUGHT, rawEvent: undefined })
  t.equal(textOf(events, answer), 'Backpressure keeps every hop honest.')
  const end = events.at(-2) as Record<string, any>
  t.equal(end.messageId, answer)
  t.match(end.rawEvent, { type: 'TextMessage', content: 'Backpressure keeps every hop honest.' }, 'the final message (a new id after a thought) closes the streamed one: its text is not sent twice')
  t.not(end.rawEvent.id, answer)
  t.same(run.result?.newMessages, [
    { id: answer, role: 'assistant', content: 'Backpressure keeps every hop honest.', name: 'assistant' },
    { id: `${answer}:thought`, role: 'reasoning', content: THOUGHT }
  ])
})
