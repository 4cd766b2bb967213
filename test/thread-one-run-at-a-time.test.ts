import t from 'tap'
import { startServer, Client } from './fixtures/server.js'
import { historyRunner } from './fixtures/runners.js'
import { ask, refusal, replyOf, say } from './fixtures/threads.js'

// Two runs from one saved state would each save their own: the second
// would drop the first's conversation. So a thread has one run at a time.

t.test('a second start on a thread whose run is active: AGS_THREAD_BUSY, from any connection of the owner; the thread then goes on', async (t) => {
  const { app, url } = await startServer({ runner: historyRunner(), authenticate: () => ({ id: 'ann' }) })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  const other = await Client.connect(url)
  t.after(() => other.close())

  t.equal(replyOf(await say(c, 'r1', 'chat', 'm1')), 'seen: m1')
  c.send({ type: 'start', runId: 'r2', threadId: 'chat', task: 'm2', options: { hold: true } })
  await c.until(() => c.run('r2').some((f) => f.type === 'event'))

  c.send({ type: 'start', runId: 'r3', threadId: 'chat', task: 'm3' })
  t.same(await refusal(c, 'r3'), {
    type: 'error', code: 'AGS_THREAD_BUSY', message: 'Thread "chat" has an active run ("r2"); one run at a time per thread', ref: { type: 'start', runId: 'r3', threadId: 'chat' }
  })
  other.send({ type: 'start', runId: 'r4', threadId: 'chat', task: 'm4' })
  t.equal((await refusal(other, 'r4')).code, 'AGS_THREAD_BUSY', 'another connection of the same identity too')
  t.same(await ask(other, { type: 'delete_thread', threadId: 'chat' }), {
    type: 'error', code: 'AGS_THREAD_BUSY', message: 'Thread "chat" has an active run ("r2"); one run at a time per thread', ref: { type: 'delete_thread', threadId: 'chat' }
  }, 'nor can it be deleted under its run')
  const info = await ask(other, { type: 'thread', threadId: 'chat' })
  t.same('runs' in info && info.runs.map((r) => [r.runId, r.state]), [['r1', 'ended'], ['r2', 'running']], 'the refused starts are no runs of the thread')

  c.send({ type: 'stop', runId: 'r2' })
  t.equal(replyOf((await c.untilEnded('r2')).at(-1) as never), 'seen: m1 | m2')
  // Its terminal frame comes once its state is kept: a start right after it finds the thread free.
  t.equal(replyOf(await say(c, 'r5', 'chat', 'm5')), 'seen: m1 | m2 | m5')
  t.equal(replyOf(await say(c, 'r6', 'other-thread', 'x')), 'seen: x', 'other threads were never held')
})
