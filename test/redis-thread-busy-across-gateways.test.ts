import t from 'tap'
import { Client } from './fixtures/server.js'
import { redisAvailability, redisCluster } from './fixtures/redis.js'
import { ask, refusal, replyOf, say } from './fixtures/threads.js'
import type { ServerFrame } from '../lib/index.js'

/*
 * One run at a time per thread, across every gateway on one Redis: the
 * claim is one script, so two gateways cannot both find a thread idle.
 * thread_agent with options.delay waits in its model call (an hour) until
 * it is cancelled.
 */

const availability = redisAvailability()
if (availability.fail !== undefined) t.fail(availability.fail)
if (availability.skip !== undefined) {
  console.error(`# skipped: ${availability.skip}`)
  t.plan(0, availability.skip)
}

const slow = { example: 'thread_agent', delay: 3600 }

if (availability.skip === undefined && availability.fail === undefined) {
  t.test('a thread run through gateway A: a start through B gets AGS_THREAD_BUSY, delete too; cancelled through B, the thread goes on from its state', async (t) => {
    const { gateways: [a, b], probe } = await redisCluster(t, { gateways: 2, hosts: 1 })
    const onA = await Client.connect(String(a?.url), { headers: { 'x-user': 'ann' } })
    t.after(() => onA.close())
    const onB = await Client.connect(String(b?.url), { headers: { 'x-user': 'ann' } })
    t.after(() => onB.close())

    t.equal(replyOf(await say(onA, 'r1', 'chat', 'm1', { example: 'thread_agent' })), 'seen: m1')
    onA.send({ type: 'start', runId: 'r2', threadId: 'chat', task: 'm2', options: slow })
    // Its task message is out: the host runs it, and its model waits.
    await onA.until(() => onA.run('r2').some((f) => f.type === 'event'))

    onB.send({ type: 'start', runId: 'r3', threadId: 'chat', task: 'm3', options: { example: 'thread_agent' } })
    t.same(await refusal(onB, 'r3'), {
      type: 'error', code: 'AGS_THREAD_BUSY', message: 'Thread "chat" has an active run ("r2"); one run at a time per thread', ref: { type: 'start', runId: 'r3', threadId: 'chat' }
    })
    t.equal(await probe.get('ags:owner:3:ann:r3'), null, 'a refused start leaves nothing in Redis')
    t.same(await ask(onB, { type: 'delete_thread', threadId: 'chat' }), {
      type: 'error', code: 'AGS_THREAD_BUSY', message: 'Thread "chat" has an active run ("r2"); one run at a time per thread', ref: { type: 'delete_thread', threadId: 'chat' }
    }, 'nor can it be deleted under its run, from any gateway')
    const busy = await ask(onB, { type: 'thread', threadId: 'chat' })
    t.same(busy.type === 'thread' && busy.runs.map((r) => [r.runId, r.state]), [['r1', 'ended'], ['r2', 'running']], 'the refused start is no run of the thread')
    t.equal(await probe.pttl('ags:thread:3:ann:chat'), -1, 'a thread with an active run does not expire')

    // Cancelled through B (its owner attaches there): the state up to the cancel is kept.
    onB.send({ type: 'attach', runId: 'r2', after: 0 })
    await onB.until((f) => f.some((x) => x.type === 'attached' && x.runId === 'r2'))
    onB.send({ type: 'cancel', runId: 'r2' })
    const cancelled = (await onA.untilEnded('r2')).at(-1)
    t.match(cancelled, { type: 'cancelled', reason: 'client' })
    t.notOk(cancelled !== undefined && 'stateError' in cancelled, 'its state was kept')
    // Right after `cancelled`, through B: free, with the conversation up to the cancel (AutoGen 0.7.5 keeps the cancelled turn twice: docs/bridge.md, Threads).
    t.equal(replyOf(await say(onB, 'r4', 'chat', 'm4', { example: 'thread_agent' })), 'seen: m1 | m2 | m2 | m4')
    const info = await ask(onA, { type: 'thread', threadId: 'chat' })
    t.same(info.type === 'thread' && info.runs.map((r) => [r.runId, r.outcome, r.stateSaved]), [['r1', 'result', true], ['r2', 'cancelled', true], ['r4', 'result', true]])
  })

  t.test('two gateways start the same new thread at once: one run gets it, the other AGS_THREAD_BUSY', async (t) => {
    const { gateways: [a, b] } = await redisCluster(t, { gateways: 2, hosts: 1 })
    const onA = await Client.connect(String(a?.url), { headers: { 'x-user': 'ann' } })
    t.after(() => onA.close())
    const onB = await Client.connect(String(b?.url), { headers: { 'x-user': 'ann' } })
    t.after(() => onB.close())
    onA.send({ type: 'start', runId: 'ra', threadId: 'race', task: 'a', options: slow })
    onB.send({ type: 'start', runId: 'rb', threadId: 'race', task: 'b', options: slow })
    const answered = (runId: string) => (f: ServerFrame): boolean => (f.type === 'started' && f.runId === runId) || (f.type === 'error' && !('seq' in f) && f.ref?.runId === runId)
    const [fromA, fromB] = await Promise.all([
      onA.until((all) => all.some(answered('ra'))).then((all) => all.find(answered('ra'))),
      onB.until((all) => all.some(answered('rb'))).then((all) => all.find(answered('rb')))
    ])
    const outcomes = [fromA?.type, fromB?.type].sort()
    t.same(outcomes, ['error', 'started'], 'exactly one of the two starts got the thread')
    const [winner, loser, winnerRun, loserRun] = fromA?.type === 'started' ? [onA, onB, 'ra', 'rb'] : [onB, onA, 'rb', 'ra']
    t.same(await refusal(loser, loserRun), {
      type: 'error', code: 'AGS_THREAD_BUSY', message: `Thread "race" has an active run ("${winnerRun}"); one run at a time per thread`, ref: { type: 'start', runId: loserRun, threadId: 'race' }
    })
    winner.send({ type: 'cancel', runId: winnerRun })
    t.match((await winner.untilEnded(winnerRun)).at(-1), { type: 'cancelled' })
    const info = await ask(loser, { type: 'thread', threadId: 'race' })
    t.same(info.type === 'thread' && info.runs.map((r) => [r.runId, r.outcome]), [[winnerRun, 'cancelled']], 'one run in the thread')
  })
}
