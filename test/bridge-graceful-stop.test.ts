import t from 'tap'
import { bridgeSession, workerStats } from './fixtures/python.js'
import type { ResultFrame, RunErrorFrame } from '../lib/index.js'

t.test('stop: a team ends after the current turn with a normal result', async (t) => {
  const { c } = await bridgeSession(t)
  c.send({ type: 'start', runId: 'team', task: 'go', options: { test_factory: 'slow_team', delay: 0.2 } })
  await c.until(() => c.run('team').some((f) => f.type === 'event' && (f.event as { source?: string }).source === 'writer'))
  c.send({ type: 'stop', runId: 'team' })
  const frames = await c.untilEnded('team')
  const result = (frames.at(-1) as ResultFrame).result
  t.equal(frames.at(-1)?.type, 'result')
  t.equal(result.stop_reason, 'External termination requested')
  t.same(result.messages.map((m) => m.source), ['user', 'writer', 'critic'], 'the critic finished its turn; nobody spoke after it')
})

t.test('stop on a single agent cancels it in Python and says so', async (t) => {
  const { c, runner } = await bridgeSession(t)
  const cancelledBefore = (await workerStats(runner))[0]?.cancelled.length ?? -1
  c.send({ type: 'start', runId: 'solo', task: 'go', options: { example: 'slow_agent' } })
  await c.until(() => c.run('solo').some((f) => f.type === 'event'))
  c.send({ type: 'stop', runId: 'solo' })
  const last = (await c.untilEnded('solo')).at(-1) as RunErrorFrame
  t.same([last.type, last.code], ['error', 'AGS_STOPPED'])
  t.equal((await workerStats(runner))[0]?.cancelled.length, cancelledBefore + 1, 'the Python run was cancelled')
})
