import t from 'tap'
import { bridgeSession } from './fixtures/python.js'
import { ask, replyOf, say } from './fixtures/threads.js'

// A cancel saves the state too, once AutoGen has unwound: the next run
// continues from the conversation up to the cancel. The `cancelled` frame
// of a thread's run comes after that state is kept.

t.test("a cancelled run's state is saved: the next run's model is asked with the cancelled message", async (t) => {
  const { c } = await bridgeSession(t)
  t.equal(replyOf(await say(c, 'r1', 'chat', 'm1', { example: 'thread_agent' })), 'seen: m1')

  // Its model waits for ever: cancelled inside the model call, once the task message is out.
  c.send({ type: 'start', runId: 'r2', threadId: 'chat', task: 'm2', options: { example: 'thread_agent', delay: 3600 } })
  await c.until(() => c.run('r2').some((f) => f.type === 'event'))
  c.send({ type: 'cancel', runId: 'r2' })
  const cancelled = (await c.untilEnded('r2')).at(-1)
  t.match(cancelled, { type: 'cancelled', reason: 'client' })
  t.notOk(cancelled !== undefined && 'stateError' in cancelled)

  // Right after `cancelled`: the thread is free and holds the state up to the cancel.
  const third = await say(c, 'r3', 'chat', 'm3', { example: 'thread_agent' })
  // AutoGen 0.7.5 keeps a turn cancelled inside its model call twice (the
  // agent's model context and its team container's buffer): docs/bridge.md, Threads.
  t.equal(replyOf(third), 'seen: m1 | m2 | m2 | m3')
  const info = await ask(c, { type: 'thread', threadId: 'chat' })
  t.same(info.type === 'thread' && info.runs.map((r) => [r.runId, r.outcome, r.stateSaved]), [['r1', 'result', true], ['r2', 'cancelled', true], ['r3', 'result', true]])
})
