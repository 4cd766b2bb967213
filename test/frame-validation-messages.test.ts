import t from 'tap'
import { checkClientFrame } from '../lib/schemas/frames.js'

// The reason reaches the client in AGS_BAD_FRAME: it must name the field.
const cases: Array<[unknown, string]> = [
  [[1], 'a frame must be a JSON object'],
  [{ type: 'launch' }, 'unknown frame type "launch"; expected "start", "cancel", "stop", "input", "attach", "detach", "list", "thread" or "delete_thread"'],
  [{ type: 'start' }, 'start: missing field "task"'],
  [{ type: 'start', task: 'x', extra: 1, more: 2 }, 'start: unknown field "extra", "more"'],
  [{ type: 'start', task: 5 }, 'start: /task: must be string, object or array'],
  [{ type: 'start', task: 'x', runId: 'has space' }, 'start: /runId: must match pattern "^[A-Za-z0-9._:-]+$"'],
  [{ type: 'start', task: 'x', options: [] }, 'start: /options: must be object'],
  [{ type: 'cancel' }, 'cancel: missing field "runId"'],
  [{ type: 'input', runId: 'r', requestId: 'q' }, 'input: missing field "content"'],
  [{ type: 'input', runId: 'r', requestId: '', content: 'x' }, 'input: /requestId: must not have fewer than 1 characters']
]

for (const [frame, reason] of cases) {
  t.test(JSON.stringify(frame), async (t) => {
    t.same(checkClientFrame(frame), { reason })
  })
}

t.test('valid frames pass as they are', async (t) => {
  const frame = { type: 'start', task: [{ type: 'TextMessage', content: 'hi' }, 'and'], options: { a: [1] } }
  t.same(checkClientFrame(frame), { frame })
})

t.test('v1 knows no attach, detach or list, and says which version it checked', async (t) => {
  t.same(checkClientFrame({ type: 'attach', runId: 'r', after: -1 }, 'autogen-stream.v1'),
    { reason: 'unknown frame type "attach" in autogen-stream.v1; expected "start", "cancel", "stop" or "input"' })
  const attach = { type: 'attach', runId: 'r', after: -1 }
  t.same(checkClientFrame(attach), { frame: attach }, 'the same frame is valid in v2')
})
