import t from 'tap'
import { Client } from './fixtures/server.js'
import { metaOf, redisAvailability, redisCluster } from './fixtures/redis.js'
import { ask, replyOf, say } from './fixtures/threads.js'
import type { Usage } from '../lib/index.js'

/*
 * A thread's state lives in Redis, not in a gateway or a worker host: run 1
 * goes through gateway A and one host, run 2 through gateway B and the
 * other host (the first one is stopped), and run 2's model is asked with
 * run 1's message. bridge_examples.thread_agent's model answers with the
 * user messages it was asked with ("seen: m1 | m2").
 */

const availability = redisAvailability()
if (availability.fail !== undefined) t.fail(availability.fail)
if (availability.skip !== undefined) {
  console.error(`# skipped: ${availability.skip}`)
  t.plan(0, availability.skip)
}

if (availability.skip === undefined && availability.fail === undefined) {
  t.test("run 1 through gateway A on one host, run 2 through gateway B on another: run 2's model is asked with run 1's history", async (t) => {
    const { gateways: [a, b], hosts, probe } = await redisCluster(t, { gateways: 2, hosts: 2, plugin: { threadRetention: 600_000 } })
    const opts = { example: 'thread_agent' }
    const onA = await Client.connect(String(a?.url), { headers: { 'x-user': 'ann' } })
    t.after(() => onA.close())
    const onB = await Client.connect(String(b?.url), { headers: { 'x-user': 'ann' } })
    t.after(() => onB.close())

    const first = await say(onA, 'r1', 'chat', 'm1', opts)
    t.equal(replyOf(first), 'seen: m1')
    t.notOk('stateError' in first)
    // The host that ran it goes away: run 2 can only run on the other one.
    const firstHost = (await metaOf(probe, 'ann', 'r1')).host
    const ranFirst = hosts.find((h) => h.hostId === firstHost)
    if (ranFirst === undefined) throw new Error(`no host ran r1 (${String(firstHost)})`)
    t.equal(await ranFirst.stop(), 0)

    const second = await say(onB, 'r2', 'chat', 'm2', opts)
    t.equal(replyOf(second), 'seen: m1 | m2', "run 2's model was asked with run 1's message: the state came from Redis")
    const secondHost = (await metaOf(probe, 'ann', 'r2')).host
    t.not(secondHost, firstHost, 'another worker host ran it')
    t.equal(replyOf(await say(onA, 'r3', 'chat', 'm3', opts)), 'seen: m1 | m2 | m3', 'and back on gateway A')

    const info = await ask(onB, { type: 'thread', threadId: 'chat' })
    if (info.type !== 'thread') throw new Error(JSON.stringify(info))
    t.same(await ask(onA, { type: 'thread', threadId: 'chat' }), info, 'both gateways answer the same record')
    t.same(info.runs.map((r) => [r.runId, r.state, r.outcome, r.stateSaved]), [['r1', 'ended', 'result', true], ['r2', 'ended', 'result', true], ['r3', 'ended', 'result', true]])
    const sum: Usage = { prompt_tokens: 0, completion_tokens: 0 }
    for (const [i, f] of [first, second, await lastOf(onA, 'r3')].entries()) {
      t.same(info.runs[i]?.usage, f.usage, `run ${i + 1}'s usage is its terminal frame's`)
      sum.prompt_tokens += f.usage?.prompt_tokens ?? 0
      sum.completion_tokens += f.usage?.completion_tokens ?? 0
    }
    t.ok(sum.prompt_tokens > 0, 'the model reported usage')
    t.same(info.usage, sum, "the thread's usage is the sum of its runs' terminal usage")
    for (const r of info.runs) t.ok(r.startedAt <= (r.endedAt ?? 0) && (r.endedAt ?? 0) <= info.updatedAt, `${r.runId}: started, ended, then the record updated`)
    t.ok(info.createdAt <= (info.runs[0]?.startedAt ?? 0))

    // What Redis holds: the state the last run saved, its size, and an idle thread's expiry.
    const key = 'ags:thread:3:ann:chat'
    const state = await probe.hget(key, 'state')
    t.equal(info.stateBytes, Buffer.byteLength(String(state)))
    t.equal((JSON.parse(String(state)) as { type?: unknown }).type, 'TeamState')
    const ttl = await probe.pttl(key)
    t.ok(ttl > 0 && ttl <= 600_000, `an idle thread expires threadRetention after its last run (${ttl} ms left)`)
    t.same(await probe.zrange('ags:threads:3:ann', 0, -1), ['chat'])
  })
}

async function lastOf (c: Client, runId: string): Promise<{ usage?: Usage }> {
  return (await c.untilEnded(runId)).at(-1) as { usage?: Usage }
}
