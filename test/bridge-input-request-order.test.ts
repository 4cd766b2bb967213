import t from 'tap'
import { bridgeSession } from './fixtures/python.js'
import type { EventFrame, InputRequestFrame, ServerFrame } from '../lib/index.js'

// The worker sends an input request once AutoGen's input function waits,
// which in a team can be while earlier items still wait for credit in
// Node. The client must get the prompt after everything before it: the
// streamed message it follows and the UserInputRequestedEvent it answers.
t.test('every input_request comes after its UserInputRequestedEvent and after the message streamed before it, three runs in a row', async (t) => {
  const { c } = await bridgeSession(t)
  for (const runId of ['p0', 'p1', 'p2']) {
    c.send({ type: 'start', runId, task: 'Plan my week', options: { example: 'user_proxy_team' } })
    for (let answered = 0; answered < 2; answered++) {
      await c.until(() => c.run(runId).filter((f) => f.type === 'input_request').length > answered)
      const frames = c.run(runId)
      const request = frames.filter((f): f is InputRequestFrame & { seq: number } => f.type === 'input_request')[answered] as InputRequestFrame
      const before = frames.filter((f) => f.seq < request.seq)
      const event = before.find((f): f is EventFrame & { seq: number } => f.type === 'event' &&
        (f.event as { type: string, request_id?: string }).type === 'UserInputRequestedEvent' &&
        (f.event as { request_id?: string }).request_id === request.requestId)
      t.ok(event !== undefined, `${runId}: the UserInputRequestedEvent of request ${answered} came first`)
      // The assistant's message is complete before the prompt: its tokens, then its TextMessage.
      const lastToken = [...before].reverse().find((f: ServerFrame) => f.type === 'token')
      const lastText = [...before].reverse().find((f: ServerFrame) => f.type === 'event' && (f.event as { type: string }).type === 'TextMessage')
      t.ok(lastToken === undefined || (lastText !== undefined && lastText.seq > lastToken.seq), `${runId}: no prompt in the middle of a streamed message`)
      t.same(frames.filter((f) => f.seq > request.seq && f.type === 'token'), [], `${runId}: nothing streams after the prompt until it is answered`)
      c.send({ type: 'input', runId, requestId: request.requestId, content: answered === 0 ? 'Move Monday to Tuesday' : 'APPROVE' })
    }
    t.equal((await c.untilEnded(runId)).at(-1)?.type, 'result')
  }
})
