import t from 'tap'
import { Client } from './fixtures/server.js'
import { bridgeSession, workerStats } from './fixtures/python.js'
import type { TokenFrame } from '../lib/index.js'

t.test('cancel and disconnect cancel the run in Python; the worker keeps serving', async (t) => {
  const { runner, url, c } = await bridgeSession(t)

  // Cancel while the model streams.
  c.send({ type: 'start', runId: 'mid', task: 'x', options: { example: 'long_stream', words: 200_000 } })
  await c.until(() => c.run('mid').filter((f) => f.type === 'token').length > 20)
  c.send({ type: 'cancel', runId: 'mid' })
  const frames = await c.untilEnded('mid')
  t.same([frames.at(-1)?.type, (frames.at(-1) as { reason?: string }).reason], ['cancelled', 'client'])
  let stats = (await workerStats(runner))[0]
  while (stats?.cancelled.includes('mid') !== true) {
    await new Promise((resolve) => setTimeout(resolve, 20))
    stats = (await workerStats(runner))[0]
  }
  t.ok(stats.cancelled.includes('mid'), 'Python cancelled the run (its CancellationToken)')
  t.ok((stats.runs.mid?.pulled ?? 0) < 200_000, 'AutoGen stopped being pulled')

  // Cancel while the model call is in progress inside AutoGen (no token yet).
  c.send({ type: 'start', runId: 'inside', task: 'x', options: { example: 'slow_agent' } })
  await c.until(() => c.run('inside').some((f) => f.type === 'event'))
  c.send({ type: 'cancel', runId: 'inside' })
  t.equal((await c.untilEnded('inside')).at(-1)?.type, 'cancelled')
  while (!(await workerStats(runner))[0]?.cancelled.includes('inside')) await new Promise((resolve) => setTimeout(resolve, 20))
  t.pass('Python cancelled the run that was waiting on its model')

  // Disconnect mid-run.
  const d = await Client.connect(url)
  d.send({ type: 'start', runId: 'gone', task: 'x', options: { example: 'long_stream', words: 200_000 } })
  await d.until(() => d.run('gone').filter((f) => f.type === 'token').length > 20)
  d.ws.terminate()
  while (!(await workerStats(runner))[0]?.cancelled.includes('gone')) await new Promise((resolve) => setTimeout(resolve, 20))
  t.pass('a disconnect cancels the Python run')

  // The same worker serves the next run to the end.
  c.send({ type: 'start', runId: 'next', task: 'x', options: { example: 'streaming_agent', text: 'still here' } })
  const next = await c.untilEnded('next')
  t.equal(next.filter((f): f is TokenFrame => f.type === 'token').map((f) => f.text).join(''), 'still here')
  t.equal(next.at(-1)?.type, 'result')
  const final = (await workerStats(runner))[0]
  t.equal(final?.active, 0, 'no run is left behind in the worker')
})
