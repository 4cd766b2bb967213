import t from 'tap'
import { startServer, Client } from './fixtures/server.js'
import { historyRunner } from './fixtures/runners.js'
import { ask, refusal, replyOf, say } from './fixtures/threads.js'

t.test('maxThreadsPerIdentity: a new thread forgets the least recently used idle one; with every thread busy, AGS_TOO_MANY_THREADS', async (t) => {
  const { app, url } = await startServer({ runner: historyRunner(), maxThreadsPerIdentity: 2 })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  await say(c, 'r1', 'a', 'a1')
  await say(c, 'r2', 'b', 'b1')
  await say(c, 'r3', 'a', 'a2') // "a" is now the most recently used
  t.equal(replyOf(await say(c, 'r4', 'c', 'c1')), 'seen: c1')
  t.equal((await ask(c, { type: 'thread', threadId: 'b' })).type, 'error', '"b", the least recently used, was forgotten')
  t.equal((await ask(c, { type: 'thread', threadId: 'a' })).type, 'thread')

  c.send({ type: 'start', runId: 'h1', threadId: 'a', task: 'a3', options: { hold: true } })
  c.send({ type: 'start', runId: 'h2', threadId: 'c', task: 'c2', options: { hold: true } })
  await c.until(() => c.run('h1').some((f) => f.type === 'event') && c.run('h2').some((f) => f.type === 'event'))
  c.send({ type: 'start', runId: 'r5', threadId: 'd', task: 'd1' })
  t.same(await refusal(c, 'r5'), {
    type: 'error', code: 'AGS_TOO_MANY_THREADS', message: 'This identity has 2 threads, each with an active run (maxThreadsPerIdentity)', ref: { type: 'start', runId: 'r5', threadId: 'd' }
  })
  c.send({ type: 'stop', runId: 'h1' })
  c.send({ type: 'stop', runId: 'h2' })
  await c.untilEnded('h1')
  await c.untilEnded('h2')
  t.equal(replyOf(await say(c, 'r6', 'd', 'd1')), 'seen: d1', 'room once a thread is idle')
})

t.test('threadRetention: an idle thread is forgotten after it; a thread with a run is not', async (t) => {
  const { app, url } = await startServer({ runner: historyRunner(), threadRetention: 20, frameRate: 0 })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  c.send({ type: 'start', runId: 'h1', threadId: 'held', task: 'x', options: { hold: true } })
  await c.until(() => c.run('h1').some((f) => f.type === 'event'))
  await say(c, 'r1', 'idle', 'm1')
  // Asked until it is gone: no assertion on when.
  while ((await ask(c, { type: 'thread', threadId: 'idle' })).type === 'thread');
  t.same(await ask(c, { type: 'thread', threadId: 'idle' }), { type: 'error', code: 'AGS_UNKNOWN_THREAD', message: 'No thread "idle" for this identity', ref: { type: 'thread', threadId: 'idle' } })
  t.equal((await ask(c, { type: 'thread', threadId: 'held' })).type, 'thread', 'its run keeps it')
  c.send({ type: 'stop', runId: 'h1' })
  await c.untilEnded('h1')
  t.equal(replyOf(await say(c, 'r2', 'idle', 'm2')), 'seen: m2', 'a start after it makes a new thread')
})
