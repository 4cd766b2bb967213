import t from 'tap'
import { bridgeSession } from './fixtures/python.js'
import { waitFor } from './fixtures/server.js'
import { ask, replyOf, say } from './fixtures/threads.js'
import type { Usage } from '../lib/index.js'

// Real AutoGen through the bridge: bridge_examples.thread_agent's model
// answers with the user messages it was asked with. The state between
// runs lives in Node's thread store: the worker that ran the first two is
// killed before the third.

t.test('a thread of three runs: the third run\'s model is asked with the first two, after a worker restart', async (t) => {
  const { runner, c } = await bridgeSession(t, { workers: 1 })
  await runner.ready()
  const opts = { example: 'thread_agent' }
  const first = await say(c, 'r1', 'chat', 'm1', opts)
  t.equal(replyOf(first), 'seen: m1')
  const second = await say(c, 'r2', 'chat', 'm2', opts)
  t.equal(replyOf(second), 'seen: m1 | m2')

  const [pid] = runner.pids
  process.kill(pid as number, 'SIGKILL')
  // The pool's replacement, once it is up.
  await waitFor(() => runner.pids[0] !== undefined && runner.pids[0] !== pid)
  await runner.ready()
  t.not(runner.pids[0], pid, 'a new worker process')

  const third = await say(c, 'r3', 'chat', 'm3', opts)
  t.equal(replyOf(third), 'seen: m1 | m2 | m3', 'the history came from the store, not from the process')

  const info = await ask(c, { type: 'thread', threadId: 'chat' })
  if (info.type !== 'thread') throw new Error(JSON.stringify(info))
  const sum: Usage = { prompt_tokens: 0, completion_tokens: 0 }
  for (const f of [first, second, third]) {
    sum.prompt_tokens += f.usage?.prompt_tokens ?? 0
    sum.completion_tokens += f.usage?.completion_tokens ?? 0
  }
  t.ok(sum.prompt_tokens > 0, 'the model reported usage')
  t.same(info.usage, sum, "the thread's usage is the sum of its runs' terminal usage")
  t.same(info.runs.map((r) => [r.runId, r.outcome, r.stateSaved]), [['r1', 'result', true], ['r2', 'result', true], ['r3', 'result', true]])
})
