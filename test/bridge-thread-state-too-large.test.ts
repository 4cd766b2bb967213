import t from 'tap'
import { examplesRunner } from './fixtures/python.js'
import { startServer, Client } from './fixtures/server.js'
import { ask, replyOf, say } from './fixtures/threads.js'

t.test('a state over maxThreadStateBytes: the run keeps its result, its terminal frame says AGS_THREAD_STATE_TOO_LARGE, the thread keeps its previous state', async (t) => {
  const runner = examplesRunner()
  const { app, url } = await startServer({ runner, maxThreadStateBytes: 16 * 1024 })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  await runner.ready()

  const first = await say(c, 'r1', 'chat', 'm1', { example: 'thread_agent' })
  t.equal(replyOf(first), 'seen: m1')
  t.notOk('stateError' in first)
  // The reply (20,000 "x") is in the team's state twice: over 16 KiB.
  const big = await say(c, 'r2', 'chat', 'm2', { example: 'thread_agent', pad: 20_000 })
  t.equal(big.type, 'result', 'the run ends with its own outcome')
  t.match(replyOf(big), /^seen: m1 \| m2 x{20000}$/)
  t.match(big.stateError, { code: 'AGS_THREAD_STATE_TOO_LARGE', message: /^The thread's state is \d+ bytes, over maxThreadStateBytes \(16384\): it was not saved$/ })

  const third = await say(c, 'r3', 'chat', 'm3', { example: 'thread_agent' })
  t.equal(replyOf(third), 'seen: m1 | m3', 'the history is the last state saved: without the run whose state was too large')
  const info = await ask(c, { type: 'thread', threadId: 'chat' })
  t.same(info.type === 'thread' && info.runs.map((r) => r.stateSaved), [true, false, true])
})

t.test("a state over the bridge's maxLineBytes: the same, told by the worker", async (t) => {
  const runner = examplesRunner({ maxLineBytes: 64 * 1024 })
  const { app, url } = await startServer({ runner })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  await runner.ready()
  t.equal(replyOf(await say(c, 'r1', 'chat', 'm1', { example: 'thread_agent' })), 'seen: m1')
  // Each item fits a line; the state, holding the reply twice, does not.
  const big = await say(c, 'r2', 'chat', 'm2', { example: 'thread_agent', pad: 40_000 })
  t.equal(big.type, 'result')
  t.match(big.stateError, { code: 'AGS_THREAD_STATE_TOO_LARGE', message: /over the bridge's line limit \(maxLineBytes\): it was not saved/ })
  t.equal(replyOf(await say(c, 'r3', 'chat', 'm3', { example: 'thread_agent' })), 'seen: m1 | m3')
})
