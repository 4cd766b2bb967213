import t from 'tap'
import { Client } from './fixtures/server.js'
import { redisAvailability, redisCluster } from './fixtures/redis.js'
import { ask, replyOf, say } from './fixtures/threads.js'

/*
 * The worker host keeps a thread run's state in Redis only within the
 * gateway's maxThreadStateBytes (it travels with the run's request), as
 * the in-process runs do: a larger one is not saved, the run keeps its
 * outcome, and its terminal frame's stateError says why. A saved state
 * that does not load fails the run, as with the stdio bridge.
 */

const availability = redisAvailability()
if (availability.fail !== undefined) t.fail(availability.fail)
if (availability.skip !== undefined) {
  console.error(`# skipped: ${availability.skip}`)
  t.plan(0, availability.skip)
}

const opts = { example: 'thread_agent' }

if (availability.skip === undefined && availability.fail === undefined) {
  t.test('a state over maxThreadStateBytes: the result stands with stateError AGS_THREAD_STATE_TOO_LARGE; Redis keeps the previous state', async (t) => {
    const { gateways: [a], probe } = await redisCluster(t, { plugin: { maxThreadStateBytes: 16 * 1024 } })
    const c = await Client.connect(String(a?.url), { headers: { 'x-user': 'ann' } })
    t.after(() => c.close())

    const first = await say(c, 'r1', 'chat', 'm1', opts)
    t.equal(replyOf(first), 'seen: m1')
    t.notOk('stateError' in first)
    const saved = await probe.hget('ags:thread:3:ann:chat', 'state')
    // The reply (20,000 "x") is in the team's state twice: over 16 KiB.
    const big = await say(c, 'r2', 'chat', 'm2', { ...opts, pad: 20_000 })
    t.equal(big.type, 'result', 'the run ends with its own outcome')
    t.match(replyOf(big), /^seen: m1 \| m2 x{20000}$/)
    t.match(big.stateError, { code: 'AGS_THREAD_STATE_TOO_LARGE', message: /^The thread's state is \d+ bytes, over maxThreadStateBytes \(16384\): it was not saved$/ })
    t.same(Object.keys(big), ['type', 'runId', 'seq', 'result', 'usage', 'stateError'], 'as run.ts puts it: after usage')
    t.ok(Number(/is (\d+) bytes/.exec(big.stateError?.message ?? '')?.[1]) > 40_000, 'the size of the state that was not kept')
    t.equal(await probe.hget('ags:thread:3:ann:chat', 'state'), saved, 'Redis holds the previous state')

    const third = await say(c, 'r3', 'chat', 'm3', opts)
    t.equal(replyOf(third), 'seen: m1 | m3', 'the history is the last state saved: without the run whose state was too large')
    const info = await ask(c, { type: 'thread', threadId: 'chat' })
    t.same(info.type === 'thread' && info.runs.map((r) => [r.runId, r.outcome, r.stateSaved]), [['r1', 'result', true], ['r2', 'result', false], ['r3', 'result', true]])
    t.equal(info.type === 'thread' && info.stateBytes, Buffer.byteLength(String(await probe.hget('ags:thread:3:ann:chat', 'state'))))
  })

  t.test('a saved state that does not load: the run fails with AGS_THREAD_STATE_FAILED and saves nothing; delete to start over', async (t) => {
    const { gateways: [a], probe } = await redisCluster(t)
    const c = await Client.connect(String(a?.url), { headers: { 'x-user': 'ann' } })
    t.after(() => c.close())
    t.equal(replyOf(await say(c, 'r1', 'chat', 'm1', opts)), 'seen: m1')
    t.equal(replyOf(await say(c, 'r2', 'notes', 'n1', opts)), 'seen: n1')

    // Not JSON (the host cannot read it), and JSON that is no team's state (load_state() refuses it).
    await probe.hset('ags:thread:3:ann:chat', 'state', '{not json')
    await probe.hset('ags:thread:3:ann:notes', 'state', '{"type":"TeamState","agent_states":{"nobody":{}}}')
    const unreadable = await say(c, 'r3', 'chat', 'm3', opts)
    t.same(unreadable, { type: 'error', runId: 'r3', seq: 1, code: 'AGS_THREAD_STATE_FAILED', message: "The thread's saved state could not be loaded" })
    const unloadable = await say(c, 'r4', 'notes', 'n2', opts)
    t.same(unloadable, { type: 'error', runId: 'r4', seq: 1, code: 'AGS_THREAD_STATE_FAILED', message: "The thread's saved state could not be loaded" })
    const info = await ask(c, { type: 'thread', threadId: 'chat' })
    t.same(info.type === 'thread' && info.runs.map((r) => [r.runId, r.state, r.outcome, r.stateSaved]), [['r1', 'ended', 'result', true], ['r3', 'ended', 'error', false]], 'idle again, nothing saved')
    t.equal(await probe.hget('ags:thread:3:ann:chat', 'state'), '{not json', 'the state is left as it was')
    t.same(await ask(c, { type: 'delete_thread', threadId: 'chat' }), { type: 'thread_deleted', threadId: 'chat' })
    t.equal(replyOf(await say(c, 'r5', 'chat', 'm5', opts)), 'seen: m5', 'a new thread')
  })
}
