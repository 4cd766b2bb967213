import t from 'tap'
import { seqProblems, waitFor } from './fixtures/server.js'
import type { ServerFrame } from '../lib/index.js'
import { bridgeSession, workerStats } from './fixtures/python.js'

// The old run's late `cancelled` line from Python used to be routed, by
// runId, to the new run with the same id, which then ended with an error
// while its Python run was orphaned waiting for credit.
t.test('start, cancel, start again with the same runId, five times: each new run ends with its own result', async (t) => {
  const { runner, c, app } = await bridgeSession(t, { workers: 1 })
  const ended: string[] = []
  for (let i = 0; i < 5; i++) {
    const from = c.frames.length
    c.send({ type: 'start', runId: 'r1', task: `long ${i}`, options: { example: 'long_stream', words: 1_000_000 } })
    await c.until((f) => f.slice(from).some((x) => x.type === 'token'))
    c.send({ type: 'cancel', runId: 'r1' })
    await c.until((f) => f.slice(from).some((x) => x.type === 'cancelled'))
    // At once, while Python may still be unwinding the cancelled one.
    c.send({ type: 'start', runId: 'r1', task: `short ${i}`, options: { example: 'streaming_agent' } })
    await c.until((f) => f.slice(from).some((x) => x.type === 'result' || ('code' in x && 'seq' in x)))
    const instance = c.frames.slice(from).filter((f) => 'seq' in f)
    const second = instance.slice(instance.findIndex((f) => f.type === 'started' && f !== instance[0]))
    ended.push(second.at(-1)?.type ?? 'none')
    t.same(seqProblems(second as ServerFrame[]), [], `round ${i}: the new run's seq starts at 0 with no gap`)
  }
  t.same(ended, ['result', 'result', 'result', 'result', 'result'])
  await waitFor(() => app.autogenStream.runs === 0 && runner.loads[0] === 0)
  const [stats] = await workerStats(runner)
  t.equal(stats?.active, 0, 'no Python run left behind')
  t.equal(stats?.started_total, 10)
})
