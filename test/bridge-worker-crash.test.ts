import t from 'tap'
import { bridgeSession } from './fixtures/python.js'
import type { RunErrorFrame } from '../lib/index.js'

t.test('kill -9 a worker mid-run: error frame, restart, the next run succeeds', async (t) => {
  const { runner, c } = await bridgeSession(t, { workers: 1 })
  await runner.ready()
  const [pid] = runner.pids
  c.send({ type: 'start', runId: 'doomed', task: 'x', options: { example: 'long_stream', words: 1_000_000 } })
  await c.until(() => c.run('doomed').filter((f) => f.type === 'token').length > 10)
  process.kill(pid as number, 'SIGKILL')
  const frames = await c.untilEnded('doomed')
  const last = frames.at(-1) as RunErrorFrame
  t.equal(last.type, 'error')
  t.equal(last.code, 'AGS_WORKER_DIED')
  t.equal(last.message, 'The Python worker running this run exited')

  c.send({ type: 'start', runId: 'after', task: 'x', options: { example: 'streaming_agent' } })
  const after = await c.untilEnded('after')
  t.equal(after.at(-1)?.type, 'result', 'the restarted worker serves the next run')
  t.not(runner.pids[0], pid, 'a new process')
  t.equal(c.ws.readyState, c.ws.OPEN, 'the connection was never affected')
})
