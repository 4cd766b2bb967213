import t from 'tap'
import { bridgeSession } from './fixtures/python.js'
import type { EventFrame, ResultFrame } from '../lib/index.js'

t.test('a tool call arrives as AutoGen orders it', async (t) => {
  const { c } = await bridgeSession(t)
  c.send({ type: 'start', runId: 'tool', task: 'Weather in Paris?', options: { example: 'tool_agent' } })
  const frames = await c.untilEnded('tool')
  const events = frames.filter((f): f is EventFrame => f.type === 'event').map((f) => f.event as Record<string, any>)
  t.same(events.map((e) => e.type), ['TextMessage', 'ToolCallRequestEvent', 'ToolCallExecutionEvent', 'ToolCallSummaryMessage'])
  t.same(events[1]?.content, [{ id: 'call_1', name: 'get_weather', arguments: '{"city": "Paris"}' }])
  t.same(events[2]?.content, [{ content: 'The weather in Paris is sunny, 21 degrees.', name: 'get_weather', call_id: 'call_1', is_error: false }])
  t.equal(events[3]?.content, 'The weather in Paris is sunny, 21 degrees.')
  t.same(events[1]?.models_usage, { prompt_tokens: 12, completion_tokens: 8 })
  t.equal((frames.at(-1) as ResultFrame).result.messages.length, 4)
})
