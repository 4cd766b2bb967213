import t from 'tap'
import { Transcript } from '../lib/client/index.js'
import type { AutoGenEvent, EventFrame, TokenFrame } from '../lib/index.js'

/*
 * Transcript cases real teams produce that the end-to-end tests do not
 * pin down: AutoGen 0.7's ThoughtEvent carrying the streamed chunks' id
 * (the final message then has a new one), chunks without a
 * full_message_id, interleaved sources, tool results for unknown calls,
 * and types this version does not know.
 */

const at = '2026-01-01T00:00:00Z'
let seq = 0
const token = (source: string, id: string | null, text: string): TokenFrame => ({ type: 'token', runId: 'r', seq: ++seq, source, full_message_id: id, text, chunks: 1 })
const event = (e: Record<string, unknown>): EventFrame => ({ type: 'event', runId: 'r', seq: ++seq, event: { models_usage: null, metadata: {}, created_at: at, ...e } as AutoGenEvent })

t.test('a thought with the chunks\' id: the streamed text goes to the next final message of that source', async (t) => {
  const tr = new Transcript()
  tr.token(token('writer', 'c1', 'Hello '))
  tr.token(token('writer', 'c1', 'world'))
  tr.event(event({ type: 'ThoughtEvent', id: 'c1', source: 'writer', content: 'I should greet' }))
  tr.event(event({ type: 'TextMessage', id: 'new-id', source: 'writer', content: 'Hello world' }))
  t.same(tr.entries.map((e) => e.kind === 'message' ? [e.kind, e.text, e.streaming, e.type] : [e.kind]), [
    ['message', 'Hello world', false, 'TextMessage'], ['thought']
  ], 'one message, not a streamed one left open and a second final one')
  t.same(tr.events().map((e) => e.type), ['ThoughtEvent', 'TextMessage'], 'events in seq order, as TaskResult.messages has them')
})

t.test('chunks without an id; two sources interleaved; the final replaces each', async (t) => {
  const tr = new Transcript()
  tr.token(token('a', null, 'one '))
  tr.token(token('b', 'b1', 'two '))
  tr.token(token('a', null, 'three'))
  tr.token(token('b', 'b1', 'four'))
  t.same(tr.entries.map((e) => e.kind === 'message' && [e.source, e.text, e.streaming]), [['a', 'one three', true], ['b', 'two four', true]])
  tr.event(event({ type: 'TextMessage', id: 'x', source: 'a', content: 'one three' }))
  tr.event(event({ type: 'TextMessage', id: 'b1', source: 'b', content: 'two four!' }))
  t.same(tr.entries.map((e) => e.kind === 'message' && [e.source, e.text, e.streaming]), [['a', 'one three', false], ['b', 'two four!', false]], 'the final text wins')
  tr.token(token('a', null, 'again'))
  t.equal(tr.entries.length, 3, 'a finished message is not reopened')
})

t.test('tool calls, results for unknown calls, structured and multimodal messages, unknown types', async (t) => {
  const tr = new Transcript()
  tr.event(event({ type: 'ToolCallRequestEvent', id: 'q', source: 'r', content: [{ id: 'c1', name: 'f', arguments: '{}' }, { id: 'c2', name: 'g', arguments: '{"x":1}' }] }))
  tr.event(event({ type: 'ToolCallExecutionEvent', id: 'e', source: 'r', content: [{ call_id: 'c2', name: 'g', content: 'boom', is_error: true }, { call_id: 'zz', name: 'h', content: '?', is_error: null }] }))
  const calls = tr.entries[0]?.kind === 'tool_calls' ? tr.entries[0].calls : []
  t.same(calls, [{ id: 'c1', name: 'f', arguments: '{}' }, { id: 'c2', name: 'g', arguments: '{"x":1}', result: 'boom', isError: true }])
  tr.event(event({ type: 'StructuredMessage[Weather]', id: 's', source: 'r', content: { city: 'Paris', t: 21 }, format_string: '{city}: {t} degrees' }))
  tr.event(event({ type: 'MultiModalMessage', id: 'm', source: 'u', content: ['look', { data: 'AAAA' }] }))
  tr.event(event({ type: 'SelectSpeakerEvent', id: 'sp', source: 'mgr', content: ['writer'] }))
  tr.event(event({ type: 'FutureEvent', id: 'f', source: 'x', content: 1 }))
  t.same(tr.entries.slice(2).map((e) => e.kind === 'message' ? e.text : e.kind === 'speaker' ? e.speakers : e.kind === 'event' ? e.type : e.kind),
    ['Paris: 21 degrees', 'look\n[image]', ['writer'], 'FutureEvent'])
  t.equal(tr.events().length, 6, 'every AutoGen object kept')
})
