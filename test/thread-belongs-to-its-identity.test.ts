import t from 'tap'
import type { FastifyRequest } from 'fastify'
import { startServer, Client } from './fixtures/server.js'
import { historyRunner } from './fixtures/runners.js'
import { ask, replyOf, say } from './fixtures/threads.js'

// A thread is found by its owner's identity and its threadId together:
// another identity naming the same threadId reaches nothing of it, and is
// answered exactly as for a thread that does not exist.

const authenticate = (request: FastifyRequest): { id: string } | undefined => {
  const user = request.headers['x-user']
  return typeof user === 'string' ? { id: user } : undefined
}

t.test('another identity cannot run, read or delete a thread; the owner can; delete then start is a new thread', async (t) => {
  const { app, url } = await startServer({ runner: historyRunner(), authenticate })
  t.after(() => app.close())
  const ann = await Client.connect(url, { headers: { 'x-user': 'ann' } })
  t.after(() => ann.close())
  const bob = await Client.connect(url, { headers: { 'x-user': 'bob' } })
  t.after(() => bob.close())

  t.equal(replyOf(await say(ann, 'a1', 'plans', 'secret-1')), 'seen: secret-1')
  t.equal(replyOf(await say(ann, 'a2', 'plans', 'secret-2')), 'seen: secret-1 | secret-2')

  // Bob's "plans" is his own thread, made by his start: none of Ann's history.
  t.equal(replyOf(await say(bob, 'b1', 'plans-of-bob', 'hello')), 'seen: hello')
  const unknown = await ask(bob, { type: 'thread', threadId: 'nobody-has-this' })
  const foreign = await ask(bob, { type: 'thread', threadId: 'plans' })
  t.same(foreign, { ...unknown, message: unknown.type === 'error' ? unknown.message.replace('nobody-has-this', 'plans') : '', ref: { type: 'thread', threadId: 'plans' } }, "Ann's thread is answered as one that does not exist")
  t.same(foreign, { type: 'error', code: 'AGS_UNKNOWN_THREAD', message: 'No thread "plans" for this identity', ref: { type: 'thread', threadId: 'plans' } })
  t.same(await ask(bob, { type: 'delete_thread', threadId: 'plans' }), { type: 'error', code: 'AGS_UNKNOWN_THREAD', message: 'No thread "plans" for this identity', ref: { type: 'delete_thread', threadId: 'plans' } })
  t.equal(replyOf(await say(bob, 'b2', 'plans', 'peek')), 'seen: peek', "a start on Ann's threadId makes Bob's own thread: nothing of hers")
  t.equal(replyOf(await say(ann, 'a3', 'plans', 'secret-3')), 'seen: secret-1 | secret-2 | secret-3', "Ann's thread is untouched")

  // The owner, from another connection.
  const ann2 = await Client.connect(url, { headers: { 'x-user': 'ann' } })
  t.after(() => ann2.close())
  const info = await ask(ann2, { type: 'thread', threadId: 'plans' })
  t.same(info.type === 'thread' && info.runs.map((r) => [r.runId, r.state, r.outcome, r.stateSaved]), [['a1', 'ended', 'result', true], ['a2', 'ended', 'result', true], ['a3', 'ended', 'result', true]])
  t.same(await ask(ann2, { type: 'delete_thread', threadId: 'plans' }), { type: 'thread_deleted', threadId: 'plans' })
  t.equal((await ask(ann2, { type: 'thread', threadId: 'plans' })).type, 'error', 'gone')
  t.equal(replyOf(await say(ann2, 'a4', 'plans', 'fresh')), 'seen: fresh', 'a start after the delete makes a new thread, without history')
  t.equal(replyOf(await say(bob, 'b3', 'plans', 'again')), 'seen: peek | again', "Bob's thread of that name was never Ann's to delete")
})

t.test('without authenticate every connection is its own identity: another connection cannot reach the thread', async (t) => {
  const { app, url } = await startServer({ runner: historyRunner() })
  t.after(() => app.close())
  const one = await Client.connect(url)
  t.after(() => one.close())
  const two = await Client.connect(url)
  t.after(() => two.close())
  t.equal(replyOf(await say(one, 'r1', 'chat', 'm1')), 'seen: m1')
  t.equal((await ask(two, { type: 'thread', threadId: 'chat' })).type, 'error')
  t.equal(replyOf(await say(two, 'r1', 'chat', 'n1')), 'seen: n1')
  t.equal(replyOf(await say(one, 'r2', 'chat', 'm2')), 'seen: m1 | m2')
})
