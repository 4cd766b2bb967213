import t from 'tap'
import { bridgeSession } from './fixtures/python.js'
import type { EventFrame, ResultFrame, TokenFrame } from '../lib/index.js'

t.test('a RoundRobinGroupChat of two streaming agents ends with its stop_reason', async (t) => {
  const { c } = await bridgeSession(t)
  c.send({ type: 'start', runId: 'rr', task: 'Write about streams', options: { example: 'round_robin' } })
  const frames = await c.untilEnded('rr')
  const tokens = frames.filter((f): f is TokenFrame => f.type === 'token')
  t.same([...new Set(tokens.map((f) => f.source))], ['writer', 'critic'], 'both agents streamed, in turn')
  const finals = frames.filter((f): f is EventFrame => f.type === 'event').map((f) => f.event as Record<string, any>)
    .filter((e) => e.type === 'TextMessage' && e.source !== 'user')
  for (const message of finals) {
    t.equal(tokens.filter((f) => f.full_message_id === message.id).map((f) => f.text).join(''), message.content, `${message.source}: tokens equal its final message`)
  }
  const result = (frames.at(-1) as ResultFrame).result
  t.match(result.stop_reason, /APPROVE/)
  t.same(result.messages.map((m) => m.source), ['user', 'writer', 'critic'])
})
