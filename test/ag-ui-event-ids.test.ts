import t from 'tap'
import { formatEvents, formatUnnumbered, parseResumePoint } from '../lib/ag-ui/sse.js'
import type { AgUiEvent } from '../lib/ag-ui/events.js'
import { SseParser } from './fixtures/ag-ui.js'

/*
 * The SSE ids of docs/ag-ui.md: `S` for the last (or only) event of the
 * frame of seq S, `X/k` for the k-th of a frame that starts at seq X, and
 * what a Last-Event-ID of either means for a resume.
 */

const end: AgUiEvent = { type: 'TEXT_MESSAGE_END', messageId: 'm' }
const start: AgUiEvent = { type: 'TEXT_MESSAGE_START', messageId: 'm', role: 'assistant', name: 'a' }
const content: AgUiEvent = { type: 'TEXT_MESSAGE_CONTENT', messageId: 'm', delta: 'a\nb\r\n\u2028c' }

t.test('one event per `data:` line, its id before it, a blank line after; a frame of several events numbers them from its first seq', async (t) => {
  t.equal(formatEvents([end], 17, 17), `id: 17\ndata: ${JSON.stringify(end)}\n\n`)
  const text = formatEvents([end, start, content], 18, 20)
  const parsed = new SseParser().push(text)
  t.same(parsed, [{ id: '18/0', event: end }, { id: '18/1', event: start }, { id: '20', event: content }], 'newlines in text stay inside the JSON line')
  t.same(new SseParser().push(formatUnnumbered([end])), [{ id: undefined, event: end }])
})

t.test('a Last-Event-ID: S resumes after S; X/k after X - 1, skipping the k + 1 events the client has; anything else is no id', async (t) => {
  t.same(parseResumePoint('17'), { after: 17, skip: 0 })
  t.same(parseResumePoint('-1'), { after: -1, skip: 0 })
  t.same(parseResumePoint(' 0 '), { after: 0, skip: 0 })
  t.same(parseResumePoint('18/0'), { after: 17, skip: 1 })
  t.same(parseResumePoint('18/2'), { after: 17, skip: 3 })
  for (const bad of ['', 'x', '1.5', '01', '-2', '-1/0', '1/', '/1', '1/01', '12345678901234567', '1/1234567', '1 2']) t.equal(parseResumePoint(bad), undefined, JSON.stringify(bad))
})
