import t from 'tap'
import { Client } from './fixtures/server.js'
import { redisAvailability, redisCluster } from './fixtures/redis.js'
import { ask, replyOf, say } from './fixtures/threads.js'

/*
 * In Redis as in memory, a thread is found by its owner's identity and its
 * threadId together (its key holds both): another identity naming the
 * same threadId, on any gateway, reaches nothing of it and is answered
 * exactly as for a thread that does not exist.
 */

const availability = redisAvailability()
if (availability.fail !== undefined) t.fail(availability.fail)
if (availability.skip !== undefined) {
  console.error(`# skipped: ${availability.skip}`)
  t.plan(0, availability.skip)
}

const opts = { example: 'thread_agent' }

if (availability.skip === undefined && availability.fail === undefined) {
  t.test('another identity cannot run, read or delete a thread, on any gateway; the owner deletes it through the other gateway, and a start makes a new one', async (t) => {
    const { gateways: [a, b], probe } = await redisCluster(t, { gateways: 2, hosts: 1 })
    const ann = await Client.connect(String(a?.url), { headers: { 'x-user': 'ann' } })
    t.after(() => ann.close())
    const bob = await Client.connect(String(b?.url), { headers: { 'x-user': 'bob' } })
    t.after(() => bob.close())

    t.equal(replyOf(await say(ann, 'a1', 'plans', 'secret-1', opts)), 'seen: secret-1')
    t.equal(replyOf(await say(ann, 'a2', 'plans', 'secret-2', opts)), 'seen: secret-1 | secret-2')

    const unknown = { type: 'error', code: 'AGS_UNKNOWN_THREAD', message: 'No thread "plans" for this identity' }
    t.same(await ask(bob, { type: 'thread', threadId: 'plans' }), { ...unknown, ref: { type: 'thread', threadId: 'plans' } }, "Ann's thread is answered as one that does not exist")
    t.same(await ask(bob, { type: 'thread', threadId: 'nobody-has-this' }), {
      type: 'error', code: 'AGS_UNKNOWN_THREAD', message: 'No thread "nobody-has-this" for this identity', ref: { type: 'thread', threadId: 'nobody-has-this' }
    })
    t.same(await ask(bob, { type: 'delete_thread', threadId: 'plans' }), { ...unknown, ref: { type: 'delete_thread', threadId: 'plans' } })
    t.equal(replyOf(await say(bob, 'b1', 'plans', 'peek', opts)), 'seen: peek', "a start on Ann's threadId makes Bob's own thread: nothing of hers")
    t.equal(replyOf(await say(ann, 'a3', 'plans', 'secret-3', opts)), 'seen: secret-1 | secret-2 | secret-3', "Ann's thread is untouched")
    t.same((await probe.keys('ags:thread:*')).sort(), ['ags:thread:3:ann:plans', 'ags:thread:3:bob:plans'], 'one record each')

    // The owner, through the other gateway.
    const ann2 = await Client.connect(String(b?.url), { headers: { 'x-user': 'ann' } })
    t.after(() => ann2.close())
    const info = await ask(ann2, { type: 'thread', threadId: 'plans' })
    t.same(info.type === 'thread' && info.runs.map((r) => [r.runId, r.state, r.outcome, r.stateSaved]), [['a1', 'ended', 'result', true], ['a2', 'ended', 'result', true], ['a3', 'ended', 'result', true]])
    t.same(await ask(ann2, { type: 'delete_thread', threadId: 'plans' }), { type: 'thread_deleted', threadId: 'plans' })
    t.same(await ask(ann, { type: 'thread', threadId: 'plans' }), { ...unknown, ref: { type: 'thread', threadId: 'plans' } }, 'gone for every gateway')
    t.same(await ask(ann2, { type: 'delete_thread', threadId: 'plans' }), { ...unknown, ref: { type: 'delete_thread', threadId: 'plans' } }, 'deleted once')
    t.equal(await probe.exists('ags:thread:3:ann:plans'), 0)
    t.same(await probe.zrange('ags:threads:3:ann', 0, -1), [])
    t.equal(replyOf(await say(ann, 'a4', 'plans', 'fresh', opts)), 'seen: fresh', 'a start after the delete makes a new thread, without history')
    t.equal(replyOf(await say(bob, 'b2', 'plans', 'again', opts)), 'seen: peek | again', "Bob's thread of that name was never Ann's to delete")
  })

  t.test("an anonymous connection's threads leave Redis when it closes; another anonymous connection never reaches them", async (t) => {
    // No authenticate: each connection is an anonymous identity of its own.
    const { gateways: [a], probe } = await redisCluster(t, { gateways: 1, hosts: 1, plugin: { authenticate: undefined } })
    const one = await Client.connect(String(a?.url))
    const two = await Client.connect(String(a?.url))
    t.after(() => two.close())
    t.equal(replyOf(await say(one, 'r1', 'chat', 'm1', opts)), 'seen: m1')
    t.equal(replyOf(await say(one, 'r2', 'notes', 'n1', opts)), 'seen: n1')
    t.equal((await ask(two, { type: 'thread', threadId: 'chat' })).type, 'error')
    t.equal(replyOf(await say(two, 'r1', 'chat', 'x1', opts)), 'seen: x1', 'its own thread of that name')
    // Whose is which: the records name their owner.
    const owners = new Map<string, string[]>()
    for (const key of await probe.keys('ags:thread:*')) {
      const owner = String(await probe.hget(key, 'owner'))
      owners.set(owner, [...owners.get(owner) ?? [], key].sort())
    }
    const [oneId, twoId] = [...owners.keys()].sort((x, y) => (owners.get(y)?.length ?? 0) - (owners.get(x)?.length ?? 0))
    t.equal(owners.get(String(oneId))?.length, 2)
    t.match(oneId, /^anonymous:/)
    one.close()
    await one.closed
    // Forgotten once the gateway has seen the close: asked until then, no assertion on when.
    while ((await probe.keys('ags:thread:*')).length !== 1) await new Promise((resolve) => setTimeout(resolve, 20))
    t.same(await probe.keys('ags:thread:*'), owners.get(String(twoId)), "only the open connection's thread is left")
    t.same(await probe.keys('ags:threads:*'), [`ags:threads:${String(twoId).length}:${String(twoId)}`], "the closed connection's index went too")
    t.equal(replyOf(await say(two, 'r2', 'chat', 'x2', opts)), 'seen: x1 | x2', "the open connection's thread is kept")
  })
}
