import t from 'tap'
import { examplesRunner } from './fixtures/python.js'
import { Client, startServer, waitFor } from './fixtures/server.js'
import type { EventFrame, InputRequestFrame, ResultFrame } from '../lib/index.js'

// An interrupted run holds nothing in any worker: every worker process is
// killed between the interrupt and the answer, and the answer continues
// the conversation on their replacements from the state Node kept.

const OPTIONS = { example: 'interrupt_round_robin' }

t.test('the answer continues an interrupted run after every worker process was restarted', async (t) => {
  const runner = examplesRunner({ workers: 2 })
  const { app, url } = await startServer({ runner, holdInputFor: 200 })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  await runner.ready()

  c.send({ type: 'start', runId: 'r1', threadId: 'week', task: 'plan', options: OPTIONS })
  const first = await c.untilEnded('r1')
  const asked = first.find((f): f is InputRequestFrame & { runId: string, seq: number } => f.type === 'input_request')
  if (asked === undefined) throw new Error(JSON.stringify(first))
  t.match(first.at(-1), { type: 'interrupted', threadId: 'week', requestId: asked.requestId, source: 'user' })
  t.same(runner.loads, [0, 0], 'no worker runs anything')

  const before = runner.pids
  for (const pid of before) process.kill(pid as number, 'SIGKILL')
  // Each worker's replacement, once it is up.
  await waitFor(() => runner.pids.every((pid, i) => pid !== undefined && pid !== before[i]))
  await runner.ready()
  t.ok(runner.pids.every((pid) => !before.includes(pid)), 'every worker is a new process')

  c.send({ type: 'start', runId: 'r2', threadId: 'week', answer: { requestId: asked.requestId, content: 'change it' }, options: OPTIONS })
  const second = await c.untilEnded('r2')
  const texts = second.filter((f): f is EventFrame & { runId: string, seq: number } => f.type === 'event')
    .map((f) => f.event as Record<string, unknown>).filter((e) => e.type === 'TextMessage').map((e) => [e.source, e.content])
  t.same(texts, [['user', 'change it'], ['assistant', 'seen: user: plan | user: change it']], 'the conversation came back from the state Node kept')
  const again = second.at(-1)
  if (again?.type !== 'interrupted') throw new Error(JSON.stringify(again))

  c.send({ type: 'start', runId: 'r3', threadId: 'week', answer: { requestId: again.requestId, content: 'APPROVE' }, options: OPTIONS })
  const last = (await c.untilEnded('r3')).at(-1) as ResultFrame
  t.equal(last.type, 'result')
  t.match(last.result.stop_reason, /APPROVE/)
})
