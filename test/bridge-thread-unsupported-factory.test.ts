import t from 'tap'
import { bridgeSession } from './fixtures/python.js'
import { say } from './fixtures/threads.js'
import type { RunErrorFrame } from '../lib/index.js'

t.test('a factory whose agent has no save_state/load_state, with a threadId: the run ends with AGS_THREAD_UNSUPPORTED', async (t) => {
  const { c } = await bridgeSession(t)
  // bridge_examples.every_type: a custom class with only run_stream.
  const end = await say(c, 'r1', 'chat', 'go', { example: 'every_type' }) as RunErrorFrame
  t.equal(end.type, 'error')
  t.equal(end.code, 'AGS_THREAD_UNSUPPORTED')
  t.equal(end.message, "Threads are not supported: the factory's EveryType has no save_state()/load_state() to keep a conversation's state")
  // Without a thread it runs.
  c.send({ type: 'start', runId: 'r2', task: 'go', options: { example: 'every_type' } })
  t.equal((await c.untilEnded('r2')).at(-1)?.type, 'result')
})
