import t from 'tap'
import { bridgeSession } from './fixtures/python.js'
import type { EventFrame, InputRequestFrame, ResultFrame } from '../lib/index.js'

t.test('a UserProxyAgent without input_func asks the client, and the team goes on', async (t) => {
  const { c } = await bridgeSession(t)
  c.send({ type: 'start', runId: 'hil', task: 'Plan my week', options: { example: 'user_proxy_team' } })

  await c.until(() => c.run('hil').some((f) => f.type === 'input_request'))
  const first = c.run('hil').find((f): f is InputRequestFrame => f.type === 'input_request') as InputRequestFrame
  const requested = c.run('hil').filter((f): f is EventFrame => f.type === 'event')
    .map((f) => f.event as Record<string, any>).find((e) => e.type === 'UserInputRequestedEvent')
  t.equal(first.requestId, requested?.request_id, "the input_request carries AutoGen's own request_id")
  c.send({ type: 'input', runId: 'hil', requestId: first.requestId, content: 'Move Monday to Tuesday' })

  await c.until(() => c.run('hil').filter((f) => f.type === 'input_request').length === 2)
  const second = c.run('hil').filter((f): f is InputRequestFrame => f.type === 'input_request')[1] as InputRequestFrame
  t.not(second.requestId, first.requestId)
  c.send({ type: 'input', runId: 'hil', requestId: second.requestId, content: 'APPROVE' })

  const frames = await c.untilEnded('hil')
  const result = (frames.at(-1) as ResultFrame).result
  t.match(result.stop_reason, /APPROVE/)
  const userMessages = result.messages.filter((m) => m.source === 'user' && m.type === 'TextMessage').map((m) => m.content)
  t.same(userMessages, ['Plan my week', 'Move Monday to Tuesday', 'APPROVE'])
})
