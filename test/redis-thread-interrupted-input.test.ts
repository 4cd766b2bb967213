import t from 'tap'
import type { Redis } from 'ioredis'
import { Client } from './fixtures/server.js'
import { metaOf, redisAvailability, redisCluster } from './fixtures/redis.js'
import { answerTheLastQuestion, ask, refusal } from './fixtures/threads.js'
import type { EventFrame, InputRequestFrame, ServerFrame } from '../lib/index.js'

/*
 * Interrupted input with the Redis store: the worker host holds a thread
 * run's input request for the gateway's holdInputFor, then ends the run
 * `interrupted` with its state and question in the thread's record, and
 * frees its slot. The answer, through another gateway, runs on another
 * host (the first one is stopped) from that state.
 * bridge_examples.interrupt_round_robin: an assistant whose model answers
 * with what it was asked ("seen: user: plan | ..."), and a UserProxyAgent
 * "user", in turn, until the user says APPROVE.
 */

const HOLD = 200
const OPTIONS = { example: 'interrupt_round_robin' }

const eventsOf = (frames: ServerFrame[]): Array<Record<string, unknown>> =>
  frames.filter((f): f is EventFrame => f.type === 'event').map((f) => f.event as Record<string, unknown>)

/** The runs a host holds, as its heartbeat says (renewed every heartbeat), once it says `expected`. */
async function hostHolds (probe: Redis, hostId: string, expected: number): Promise<number> {
  for (;;) {
    const beat = JSON.parse(String(await probe.get(`ags:host:${hostId}`))) as { active?: unknown }
    if (beat.active === expected) return expected
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

const availability = redisAvailability()
if (availability.fail !== undefined) t.fail(availability.fail)
if (availability.skip !== undefined) {
  console.error(`# skipped: ${availability.skip}`)
  t.plan(0, availability.skip)
}

if (availability.skip === undefined && availability.fail === undefined) {
  t.test('interrupted on one host through gateway A, answered through gateway B on another host: the model is asked with the answer', async (t) => {
    const { gateways: [a, b], hosts, probe } = await redisCluster(t, { gateways: 2, hosts: 2, plugin: { holdInputFor: HOLD, threadRetention: 600_000 } })
    const onA = await Client.connect(String(a?.url), { headers: { 'x-user': 'ann' } })
    t.after(() => onA.close())
    const onB = await Client.connect(String(b?.url), { headers: { 'x-user': 'ann' } })
    t.after(() => onB.close())

    onA.send({ type: 'start', runId: 'r1', threadId: 'week', task: 'plan', options: OPTIONS })
    const first = await onA.untilEnded('r1')
    const asked = first.find((f): f is InputRequestFrame & { runId: string, seq: number } => f.type === 'input_request')
    if (asked === undefined) throw new Error(JSON.stringify(first))
    t.equal(eventsOf(first).find((e) => e.type === 'UserInputRequestedEvent')?.request_id, asked.requestId, "AutoGen's own request id")
    const reply = eventsOf(first).find((e) => e.type === 'TextMessage' && e.source === 'assistant')
    t.equal(reply?.content, 'seen: user: plan')
    const usage = reply?.models_usage as { prompt_tokens: number, completion_tokens: number }
    t.same(first.at(-1), {
      type: 'interrupted',
      runId: 'r1',
      seq: asked.seq + 1,
      threadId: 'week',
      requestId: asked.requestId,
      prompt: 'Enter your response: ',
      source: 'user',
      usage: { prompt_tokens: usage.prompt_tokens, completion_tokens: usage.completion_tokens }
    }, 'the terminal frame says whom the run waits for, and for what, as in-process')
    t.same(Object.keys(first.at(-1) ?? {}), ['type', 'runId', 'seq', 'threadId', 'requestId', 'prompt', 'source', 'usage'], 'in the order in-process frames have')

    const firstHost = (await metaOf(probe, 'ann', 'r1')).host
    const ranFirst = hosts.find((h) => h.hostId === firstHost)
    if (ranFirst === undefined) throw new Error(`no host ran r1 (${String(firstHost)})`)
    t.equal(await hostHolds(probe, ranFirst.hostId, 0), 0, 'the host that ran it holds no run')

    // Any gateway reads the same record: the thread waits for that answer.
    const pending = { requestId: asked.requestId, prompt: 'Enter your response: ', source: 'user' }
    const waiting = await ask(onB, { type: 'thread', threadId: 'week' })
    if (waiting.type !== 'thread') throw new Error(JSON.stringify(waiting))
    t.same(waiting.pending, pending, 'the thread says it waits, on gateway B')
    t.same(waiting.runs.map((r) => [r.runId, r.state, r.outcome, r.stateSaved]), [['r1', 'ended', 'interrupted', true]])

    // The host that asked is gone: the answer can only run on the other one.
    t.equal(await ranFirst.stop(), 0)
    onB.send({ type: 'start', runId: 'r2', threadId: 'week', answer: { requestId: asked.requestId, content: 'change it' }, options: OPTIONS })
    const second = await onB.untilEnded('r2')
    t.not((await metaOf(probe, 'ann', 'r2')).host, firstHost, 'another worker host ran it')
    t.same(eventsOf(second).filter((e) => e.type === 'TextMessage').map((e) => [e.source, e.content]), [
      ['user', 'change it'],
      ['assistant', 'seen: user: plan | user: change it']
    ], "the answer is the user proxy's message, and the model is asked with it, exactly")
    const again = second.find((f): f is InputRequestFrame & { runId: string, seq: number } => f.type === 'input_request')
    if (again === undefined) throw new Error(JSON.stringify(second))
    t.not(again.requestId, asked.requestId)
    // Nobody answers this one in time either.
    t.match(second.at(-1), { type: 'interrupted', runId: 'r2', threadId: 'week', requestId: again.requestId, prompt: 'Enter your response: ', source: 'user' })

    // The first question was answered: it waits no more, on either gateway.
    await answerTheLastQuestion(t, onA, onB, asked.requestId, again.requestId, OPTIONS)
    t.equal(await probe.hexists('ags:thread:3:ann:week', 'pending'), 0)
  })

  t.test('an answer naming another request, no thread, or another identity\'s thread: AGS_UNKNOWN_REQUEST, the thread as it was', async (t) => {
    const { gateways: [a, b], probe } = await redisCluster(t, { gateways: 2, hosts: 1, plugin: { holdInputFor: 0 } })
    const ann = await Client.connect(String(a?.url), { headers: { 'x-user': 'ann' } })
    t.after(() => ann.close())
    const bob = await Client.connect(String(b?.url), { headers: { 'x-user': 'bob' } })
    t.after(() => bob.close())

    ann.send({ type: 'start', runId: 'r1', threadId: 'week', task: 'plan', options: OPTIONS })
    const interrupted = (await ann.untilEnded('r1')).at(-1)
    if (interrupted?.type !== 'interrupted') throw new Error(JSON.stringify(interrupted))
    const record = await probe.hgetall('ags:thread:3:ann:week')

    const unknown = (runId: string, threadId: string, requestId: string): object => ({
      type: 'error',
      code: 'AGS_UNKNOWN_REQUEST',
      message: `Thread "${threadId}" is not waiting for input "${requestId}"`,
      ref: { type: 'start', runId, threadId, requestId }
    })
    ann.send({ type: 'start', runId: 'wrong', threadId: 'week', answer: { requestId: 'not-the-question', content: 'hi' }, options: OPTIONS })
    t.same(await refusal(ann, 'wrong'), unknown('wrong', 'week', 'not-the-question'))
    ann.send({ type: 'start', runId: 'none', threadId: 'nothing', answer: { requestId: interrupted.requestId, content: 'hi' }, options: OPTIONS })
    t.same(await refusal(ann, 'none'), unknown('none', 'nothing', interrupted.requestId))
    bob.send({ type: 'start', runId: 'bobs', threadId: 'week', answer: { requestId: interrupted.requestId, content: 'hi' }, options: OPTIONS })
    t.same(await refusal(bob, 'bobs'), unknown('bobs', 'week', interrupted.requestId), "Ann's question, asked by Bob: answered as one that does not exist")

    t.same(await probe.hgetall('ags:thread:3:ann:week'), record, 'nothing of the thread changed')
    t.same(await probe.keys('ags:thread:*'), ['ags:thread:3:ann:week'], 'and no thread was made')
    t.same([...ann.frames, ...bob.frames].filter((f) => f.type === 'started').map((f) => f.runId), ['r1'], 'no run started')
  })
}
