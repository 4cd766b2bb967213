import t from 'tap'
import { examplesRunner } from './fixtures/python.js'
import { Client, startServer } from './fixtures/server.js'
import { ask } from './fixtures/threads.js'
import type { InputRequestFrame, ResultFrame } from '../lib/index.js'

// holdInputFor: Infinity is today's behaviour: a thread's run waiting for
// input holds its worker and is answered by an `input` frame, as any run.

t.test('with holdInputFor: Infinity a thread run waits for its input frame and goes on as before', async (t) => {
  const runner = examplesRunner({ workers: 1 })
  const { app, url } = await startServer({ runner, holdInputFor: Infinity })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())

  c.send({ type: 'start', runId: 'r1', threadId: 'week', task: 'plan', options: { example: 'interrupt_round_robin' } })
  const asked = async (n: number): Promise<InputRequestFrame> => {
    const frames = await c.until(() => c.run('r1').filter((f) => f.type === 'input_request').length === n)
    return frames.filter((f): f is InputRequestFrame => f.type === 'input_request')[n - 1] as InputRequestFrame
  }
  const first = await asked(1)
  t.same(runner.loads, [1], 'the waiting run holds its worker')
  c.send({ type: 'input', runId: 'r1', requestId: first.requestId, content: 'change it' })
  const second = await asked(2)
  c.send({ type: 'input', runId: 'r1', requestId: second.requestId, content: 'APPROVE' })

  const frames = await c.untilEnded('r1')
  const last = frames.at(-1) as ResultFrame
  t.equal(last.type, 'result')
  t.same(last.result.messages.filter((m) => m.type === 'TextMessage').map((m) => [m.source, m.content]), [
    ['user', 'plan'],
    ['assistant', 'seen: user: plan'],
    ['user', 'change it'],
    ['assistant', 'seen: user: plan | user: change it'],
    ['user', 'APPROVE']
  ])
  t.same(frames.map((f) => f.type).filter((type) => type === 'input_request' || type === 'result'), ['input_request', 'input_request', 'result'])

  const info = await ask(c, { type: 'thread', threadId: 'week' })
  if (info.type !== 'thread') throw new Error(JSON.stringify(info))
  t.equal(info.pending, undefined)
  t.same(info.runs.map((r) => [r.runId, r.outcome, r.stateSaved]), [['r1', 'result', true]])
})
