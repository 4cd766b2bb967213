import t from 'tap'
import { Client } from './fixtures/server.js'
import { metaOf, redisAvailability, redisCluster, startHost } from './fixtures/redis.js'
import { ask, refusal, replyOf, say } from './fixtures/threads.js'

/*
 * A worker host that dies (SIGKILL) in a thread's run cannot end the run in
 * the thread's record: whoever finds it dead does. A gateway reading the
 * run writes its AGS_WORKER_DIED (HOST_GONE) and frees the thread in the
 * same script; with nobody reading it, the next start, `thread` or
 * `delete_thread` of the thread finds the host gone and does the same.
 * Either way the thread's next run starts from the last state saved.
 * thread_agent with options.delay waits in its model call for an hour.
 */

const availability = redisAvailability()
if (availability.fail !== undefined) t.fail(availability.fail)
if (availability.skip !== undefined) {
  console.error(`# skipped: ${availability.skip}`)
  t.plan(0, availability.skip)
}

const opts = { example: 'thread_agent' }

if (availability.skip === undefined && availability.fail === undefined) {
  t.test('the host dies under a run its client reads: AGS_WORKER_DIED, the thread is free, and its next run starts from the previous state', async (t) => {
    const { hosts, gateways: [a], probe } = await redisCluster(t, { hosts: 2 })
    const c = await Client.connect(String(a?.url), { headers: { 'x-user': 'ann' } })
    t.after(() => c.close())
    t.equal(replyOf(await say(c, 'r1', 'chat', 'm1', opts)), 'seen: m1')

    c.send({ type: 'start', runId: 'r2', threadId: 'chat', task: 'm2', options: { ...opts, delay: 3600 } })
    await c.until(() => c.run('r2').some((f) => f.type === 'event'))
    const { host } = await metaOf(probe, 'ann', 'r2')
    const dying = hosts.find((h) => h.hostId === host)
    if (dying === undefined) throw new Error(`no host runs r2 (${String(host)})`)
    await dying.kill()
    t.same((await c.untilEnded('r2')).at(-1), { type: 'error', runId: 'r2', seq: 2, code: 'AGS_WORKER_DIED', message: 'The worker host running this run stopped answering' })

    // Right after it: free, and from the state r1 saved (r2 saved none).
    t.equal(replyOf(await say(c, 'r3', 'chat', 'm3', opts)), 'seen: m1 | m3')
    const info = await ask(c, { type: 'thread', threadId: 'chat' })
    t.same(info.type === 'thread' && info.runs.map((r) => [r.runId, r.state, r.outcome, r.stateSaved]), [['r1', 'ended', 'result', true], ['r2', 'ended', 'error', false], ['r3', 'ended', 'result', true]])
    t.same(info.type === 'thread' && info.runs[1]?.usage, undefined, 'no usage is known of the dead run')
  })

  t.test('the host dies under runs nobody reads: the next start of one thread, and a `thread` frame of the other, find it gone, end its run and free the thread', async (t) => {
    // Its heartbeat key lives 10 minutes: the test removes it, as its expiry would.
    const { hosts: [dying], gateways: [a], probe, redis } = await redisCluster(t, { hosts: 1, hostArgs: ['--heartbeat-ttl-ms', '600000'] })
    const c = await Client.connect(String(a?.url), { headers: { 'x-user': 'ann' } })
    t.after(() => c.close())
    t.equal(replyOf(await say(c, 'r1', 'chat', 'm1', opts)), 'seen: m1')
    t.equal(replyOf(await say(c, 'n1', 'notes', 'x1', opts)), 'seen: x1')

    const gone = await Client.connect(String(a?.url), { headers: { 'x-user': 'ann' } })
    gone.send({ type: 'start', runId: 'r2', threadId: 'chat', task: 'm2', options: { ...opts, delay: 3600 } })
    gone.send({ type: 'start', runId: 'n2', threadId: 'notes', task: 'x2', options: { ...opts, delay: 3600 } })
    await gone.until(() => gone.run('r2').some((f) => f.type === 'event') && gone.run('n2').some((f) => f.type === 'event'))
    gone.ws.terminate()
    await gone.closed
    await dying?.kill()
    const other = await startHost(redis.url)
    t.after(() => other.stop())

    // While its heartbeat key lives, the host may only be slow: the thread stays busy.
    c.send({ type: 'start', runId: 'early', threadId: 'chat', task: 'x', options: opts })
    t.same(await refusal(c, 'early'), {
      type: 'error', code: 'AGS_THREAD_BUSY', message: 'Thread "chat" has an active run ("r2"); one run at a time per thread', ref: { type: 'start', runId: 'early', threadId: 'chat' }
    })
    t.equal(await probe.del(`ags:host:${String(dying?.hostId)}`), 1)

    t.equal(replyOf(await say(c, 'r3', 'chat', 'm3', opts)), 'seen: m1 | m3', 'the start finds the host gone: the run starts from the state r1 saved')
    const chat = await ask(c, { type: 'thread', threadId: 'chat' })
    t.same(chat.type === 'thread' && chat.runs.map((r) => [r.runId, r.state, r.outcome, r.stateSaved]), [['r1', 'ended', 'result', true], ['r2', 'ended', 'error', false], ['r3', 'ended', 'result', true]])
    const notes = await ask(c, { type: 'thread', threadId: 'notes' })
    t.same(notes.type === 'thread' && notes.runs.map((r) => [r.runId, r.state, r.outcome, r.stateSaved]), [['n1', 'ended', 'result', true], ['n2', 'ended', 'error', false]], 'the `thread` frame finds the host gone: the run ended, the thread idle')
    for (const runId of ['r2', 'n2']) {
      c.send({ type: 'attach', runId, after: 1 })
      t.same((await c.untilEnded(runId)).at(-1), { type: 'error', runId, seq: 2, code: 'AGS_WORKER_DIED', message: 'The worker host running this run stopped answering' }, `${runId}'s log has its end`)
    }
    t.equal(replyOf(await say(c, 'n3', 'notes', 'x3', opts)), 'seen: x1 | x3')
  })
}
