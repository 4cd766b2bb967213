import t, { type Test } from 'tap'
import { Redis } from 'ioredis'
import { Client, seqProblems, startServer } from './fixtures/server.js'
import { redisAvailability, startHost, startRedis } from './fixtures/redis.js'
import { redisRuns } from '../lib/redis/index.js'
import type { ServerFrame, TokenFrame } from '../lib/index.js'

/*
 * Two gateways (Fastify + the plugin with redisRuns), two Python worker
 * hosts, one redis-server, all on this machine. A run started through
 * gateway A is read, resumed, cancelled, stopped and answered through
 * gateway B: nothing of it lives in A.
 */

const availability = redisAvailability()
if (availability.fail !== undefined) t.fail(availability.fail)
if (availability.skip !== undefined) {
  console.error(`# skipped: ${availability.skip}`)
  t.plan(0, availability.skip)
}

type RunFrames = Array<ServerFrame & { runId: string, seq: number }>

async function cluster (t: Test) {
  const redis = await startRedis()
  t.after(() => redis.stop())
  const hosts = await Promise.all([startHost(redis.url), startHost(redis.url)])
  t.after(() => Promise.all(hosts.map((h) => h.stop())))
  const gateways = await Promise.all([0, 1].map(async () => {
    const { app, url } = await startServer({ runs: redisRuns({ url: redis.url, heartbeat: 200 }) })
    t.after(() => app.close())
    return { app, url }
  }))
  const a = gateways[0] as { app: typeof gateways[0]['app'], url: string }
  const b = gateways[1] as { app: typeof gateways[0]['app'], url: string }
  return { redis, hosts, a, b }
}

function tokenText (frames: ServerFrame[]): string {
  return frames.filter((f): f is TokenFrame => f.type === 'token').map((f) => f.text).join('')
}

function lastSeq (frames: RunFrames): number {
  return frames.reduce((n, f) => f.type === 'input_request' && f.resent === true ? n : Math.max(n, f.seq), -1)
}

if (availability.skip === undefined && availability.fail === undefined) {
  t.test('a client cut on gateway A attaches on gateway B: every seq once, the whole text', async (t) => {
    const { a, b } = await cluster(t)
    const words = 3000
    const first = await Client.connect(a.url)
    first.send({ type: 'start', runId: 'r1', task: 'go', options: { example: 'long_stream', words } })
    // 200 chunks (a token frame carries the chunks that were waiting: often many).
    await first.until(() => first.run('r1').reduce((n, f) => n + (f.type === 'token' ? f.chunks : 0), 0) >= 200)
    first.ws.terminate()
    const seen = first.run('r1')
    const token = first.tokens.get('r1')
    const second = await Client.connect(b.url)
    t.after(() => second.close())
    second.send({ type: 'attach', runId: 'r1', after: lastSeq(seen), resumeToken: token })
    const rest = await second.untilEnded('r1')
    const all = [...seen, ...rest]
    t.same(seqProblems(all, 'v2'), [], 'no seq twice, none missing, across the two gateways')
    const expected = Array.from({ length: words }, (_, i) => `w${i}`).join(' ')
    t.equal(tokenText(all), expected, 'the tokens spell the whole answer')
    t.equal(all.at(-1)?.type, 'result')
    t.match(second.frames[0], { type: 'attached', runId: 'r1', after: lastSeq(seen), ended: false })
  })

  t.test('cancel, stop and an input reply sent through gateway B reach runs started through gateway A', async (t) => {
    const { a, b } = await cluster(t)
    const starter = await Client.connect(a.url)
    t.after(() => starter.close())
    const other = await Client.connect(b.url)
    t.after(() => other.close())

    // Cancel: a model that takes an hour.
    starter.send({ type: 'start', runId: 'slow', task: 'x', options: { example: 'slow_agent' } })
    await starter.until(() => starter.run('slow').length >= 1)
    other.send({ type: 'attach', runId: 'slow', after: 0, resumeToken: starter.tokens.get('slow') })
    await other.until((f) => f.some((x) => x.type === 'attached'))
    other.send({ type: 'cancel', runId: 'slow' })
    const cancelled = (await starter.untilEnded('slow')).at(-1)
    t.match(cancelled, { type: 'cancelled', reason: 'client' }, 'the starter sees the cancel from B')
    t.match((await other.untilEnded('slow')).at(-1), { type: 'cancelled', seq: cancelled?.seq })

    // Input: a team that asks the human.
    starter.send({ type: 'start', runId: 'ask', task: 'Plan the release', options: { example: 'user_proxy_team' } })
    await starter.until(() => starter.run('ask').some((f) => f.type === 'input_request'))
    const request = starter.run('ask').find((f) => f.type === 'input_request') as ServerFrame & { requestId: string }
    other.send({ type: 'attach', runId: 'ask', after: -1, resumeToken: starter.tokens.get('ask') })
    await other.until(() => other.run('ask').some((f) => f.type === 'input_request'))
    other.send({ type: 'input', runId: 'ask', requestId: request.requestId, content: 'APPROVE' })
    starter.send({ type: 'input', runId: 'ask', requestId: request.requestId, content: 'too late' })
    await starter.until((f) => f.some((x) => x.type === 'error' && !('seq' in x)))
    t.match(starter.frames.find((x) => x.type === 'error' && !('seq' in x)), { code: 'AGS_UNKNOWN_REQUEST' }, 'the first answer wins, across gateways')
    const asked = await starter.untilEnded('ask')
    t.equal(asked.at(-1)?.type, 'result')
    const replies = asked.filter((f) => f.type === 'event' && f.event.type === 'TextMessage' && (f.event as { source?: string }).source === 'user').map((f) => f.type === 'event' && (f.event as { content?: unknown }).content)
    t.same(replies, ['Plan the release', 'APPROVE'], 'the UserProxyAgent got the reply sent through B')

    // Stop: a team that would go on for another agent's turn. (The writer's turn ends
    // first: a stop waits for it, so it is kept short enough for a loaded machine.)
    starter.send({ type: 'start', runId: 'team', task: 'x', options: { example: 'long_team', words: 2000 } })
    await starter.until(() => starter.run('team').filter((f) => f.type === 'token').length >= 10)
    other.send({ type: 'attach', runId: 'team', after: -1, resumeToken: starter.tokens.get('team') })
    await other.until((f) => f.some((x) => x.type === 'attached' && x.runId === 'team'))
    other.send({ type: 'stop', runId: 'team' })
    const stopped = (await starter.untilEnded('team')).at(-1)
    t.equal(stopped?.type, 'result', 'a stopped team ends with its result')
    const result = stopped?.type === 'result' ? stopped.result : undefined
    // Not the team's own end (MaxMessageTermination after the critic): the stop's, after the turn it came in.
    t.equal(result?.stop_reason, 'External termination requested', 'the stop sent through B ended the team')
  })

  t.test('a worker host killed mid-run: AGS_WORKER_DIED on the attached client; the other host serves the next run', async (t) => {
    const { a, hosts, redis } = await cluster(t)
    const c = await Client.connect(a.url)
    t.after(() => c.close())
    c.send({ type: 'start', runId: 'doomed', task: 'x', options: { example: 'slow_agent' } })
    // started, then the task's TextMessage: the host has it, and its model takes an hour.
    await c.until(() => c.run('doomed').length >= 2)
    // Which host took it: the run's meta says.
    const probe = new Redis(redis.url)
    t.after(() => probe.disconnect())
    let hostId: string | null = null
    for (let i = 0; i < 200 && hostId === null; i++) {
      const [key] = await probe.keys('ags:run:*:meta')
      hostId = key === undefined ? null : await probe.hget(key, 'host')
      if (hostId === null) await new Promise((resolve) => setTimeout(resolve, 25))
    }
    const victim = hosts.find((h) => h.hostId === hostId)
    if (victim === undefined) throw new Error(`no host took the run (${String(hostId)})`)
    await victim.kill()
    const end = (await c.untilEnded('doomed')).at(-1)
    t.match(end, { type: 'error', code: 'AGS_WORKER_DIED', seq: 2 }, 'the run ends with a clear code, right after what the host wrote')
    t.same(c.run('doomed').map((f) => f.type), ['started', 'event', 'error'])
    c.send({ type: 'start', runId: 'next', task: 'x', options: { example: 'streaming_agent' } })
    t.equal((await c.untilEnded('next')).at(-1)?.type, 'result', 'the surviving host runs the next one')
  })
}
