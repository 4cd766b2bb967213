import t from 'tap'
import { Client } from './fixtures/server.js'
import { redisAvailability, redisCluster } from './fixtures/redis.js'
import { ask, refusal, replyOf, say } from './fixtures/threads.js'

/*
 * The limits of threads hold in Redis as in memory, whichever gateway
 * asks: maxThreadsPerIdentity (the least recently used idle thread makes
 * room) and threadRetention (an idle thread's key expires; one with an
 * active run never does). thread_agent with options.delay waits in its
 * model call for an hour, until cancelled.
 */

const availability = redisAvailability()
if (availability.fail !== undefined) t.fail(availability.fail)
if (availability.skip !== undefined) {
  console.error(`# skipped: ${availability.skip}`)
  t.plan(0, availability.skip)
}

const opts = { example: 'thread_agent' }
const slow = { ...opts, delay: 3600 }

if (availability.skip === undefined && availability.fail === undefined) {
  t.test('maxThreadsPerIdentity across gateways: a new thread forgets the least recently used idle one; with every thread busy, AGS_TOO_MANY_THREADS', async (t) => {
    const { gateways: [a, b], probe } = await redisCluster(t, { gateways: 2, plugin: { maxThreadsPerIdentity: 2 } })
    const onA = await Client.connect(String(a?.url), { headers: { 'x-user': 'ann' } })
    t.after(() => onA.close())
    const onB = await Client.connect(String(b?.url), { headers: { 'x-user': 'ann' } })
    t.after(() => onB.close())
    await say(onA, 'r1', 'a', 'a1', opts)
    await say(onB, 'r2', 'b', 'b1', opts)
    await say(onA, 'r3', 'a', 'a2', opts) // "a" is now the most recently used
    t.equal(replyOf(await say(onB, 'r4', 'c', 'c1', opts)), 'seen: c1')
    t.equal((await ask(onA, { type: 'thread', threadId: 'b' })).type, 'error', '"b", the least recently used, was forgotten')
    t.equal(await probe.exists('ags:thread:3:ann:b'), 0)
    t.same(await probe.zrange('ags:threads:3:ann', 0, -1), ['a', 'c'], "the owner's index, least recently used first")
    t.equal(replyOf(await say(onA, 'r5', 'a', 'a3', opts)), 'seen: a1 | a2 | a3', '"a" kept its history')

    onA.send({ type: 'start', runId: 'h1', threadId: 'a', task: 'a4', options: slow })
    onB.send({ type: 'start', runId: 'h2', threadId: 'c', task: 'c2', options: slow })
    await onA.until(() => onA.run('h1').some((f) => f.type === 'event'))
    await onB.until(() => onB.run('h2').some((f) => f.type === 'event'))
    onB.send({ type: 'start', runId: 'r6', threadId: 'd', task: 'd1', options: opts })
    t.same(await refusal(onB, 'r6'), {
      type: 'error', code: 'AGS_TOO_MANY_THREADS', message: 'This identity has 2 threads, each with an active run (maxThreadsPerIdentity)', ref: { type: 'start', runId: 'r6', threadId: 'd' }
    })
    t.equal(await probe.exists('ags:thread:3:ann:d'), 0, 'the refused start made no thread')
    onA.send({ type: 'cancel', runId: 'h1' })
    await onA.untilEnded('h1')
    t.equal(replyOf(await say(onB, 'r7', 'd', 'd1', opts)), 'seen: d1', 'room once a thread is idle: "a", the only idle one, made it')
    t.equal((await ask(onB, { type: 'thread', threadId: 'a' })).type, 'error')
    t.equal((await ask(onB, { type: 'thread', threadId: 'c' })).type, 'thread', 'the busy one stays')
    onB.send({ type: 'cancel', runId: 'h2' })
    await onB.untilEnded('h2')
  })

  t.test('threadRetention: an idle thread expires after it; a thread with a run does not', async (t) => {
    const { gateways: [a], probe } = await redisCluster(t, { plugin: { threadRetention: 300, frameRate: 0 } })
    const c = await Client.connect(String(a?.url), { headers: { 'x-user': 'ann' } })
    t.after(() => c.close())
    c.send({ type: 'start', runId: 'h1', threadId: 'held', task: 'x', options: slow })
    await c.until(() => c.run('h1').some((f) => f.type === 'event'))
    await say(c, 'r1', 'idle', 'm1', opts)
    const ttl = await probe.pttl('ags:thread:3:ann:idle')
    t.ok(ttl > 0 && ttl <= 300, `the idle thread's key expires (${ttl} ms left)`)
    // Asked until it is gone: no assertion on when.
    while ((await ask(c, { type: 'thread', threadId: 'idle' })).type === 'thread');
    t.same(await ask(c, { type: 'thread', threadId: 'idle' }), { type: 'error', code: 'AGS_UNKNOWN_THREAD', message: 'No thread "idle" for this identity', ref: { type: 'thread', threadId: 'idle' } })
    t.equal((await ask(c, { type: 'thread', threadId: 'held' })).type, 'thread', 'its run keeps it')
    t.equal(await probe.pttl('ags:thread:3:ann:held'), -1)
    c.send({ type: 'cancel', runId: 'h1' })
    await c.untilEnded('h1')
    t.equal(replyOf(await say(c, 'r2', 'idle', 'm2', opts)), 'seen: m2', 'a start after it makes a new thread')
  })
}
