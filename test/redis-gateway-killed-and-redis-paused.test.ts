import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import t, { type Test } from 'tap'
import { Client, seqProblems, startServer } from './fixtures/server.js'
import { redisAvailability, startHost, startRedis } from './fixtures/redis.js'
import { redisRuns } from '../lib/redis/index.js'
import { collect, nodeClient, untilFrame } from './fixtures/client.js'
import type { ServerFrame, TokenFrame } from '../lib/index.js'

/*
 * Failures of the shared pieces: a gateway killed with SIGKILL mid-run (its
 * client resumes on another gateway, nothing lost), and Redis unreachable
 * for a while (SIGSTOP, then SIGCONT): a start meanwhile gets
 * AGS_STORE_UNAVAILABLE, nothing crashes, and the run goes on to its end
 * once Redis answers again.
 */

const availability = redisAvailability()
if (availability.fail !== undefined) t.fail(availability.fail)
if (availability.skip !== undefined) {
  console.error(`# skipped: ${availability.skip}`)
  t.plan(0, availability.skip)
}

const here = dirname(fileURLToPath(import.meta.url))
type RunFrames = Array<ServerFrame & { runId: string, seq: number }>

function lastSeq (frames: RunFrames): number {
  return frames.reduce((n, f) => f.type === 'input_request' && f.resent === true ? n : Math.max(n, f.seq), -1)
}

function words (frames: ServerFrame[]): string {
  return frames.filter((f): f is TokenFrame => f.type === 'token').map((f) => f.text).join('')
}

async function gatewayProcess (t: Test, redisUrl: string): Promise<{ url: string, kill: () => Promise<void> }> {
  const child = spawn(process.execPath, [join(here, 'fixtures', 'gateway.mjs'), redisUrl], { stdio: ['pipe', 'pipe', 'inherit'] })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  t.after(async () => { if (child.exitCode === null) child.kill('SIGKILL'); await exited })
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', resolve)
    child.once('exit', (code) => reject(new Error(`the gateway exited (${String(code)})`)))
  })
  const { url } = JSON.parse(line) as { url: string }
  return { url, kill: async () => { child.kill('SIGKILL'); await exited } }
}

/**
 * Redis, one worker host, a gateway in a process of its own (to be killed)
 * and one in this process. Readers count for 10 minutes on the host: only
 * the dead gateway's expired heartbeat lets it go on without that
 * gateway's reader (else these tests time out).
 */
async function twoGateways (t: Test): Promise<{ doomed: { url: string, kill: () => Promise<void> }, url: string }> {
  const redis = await startRedis()
  t.after(() => redis.stop())
  const host = await startHost(redis.url, { args: ['--reader-ttl-ms', '600000'] })
  t.after(() => host.stop())
  const doomed = await gatewayProcess(t, redis.url)
  const { app, url } = await startServer({ runs: redisRuns({ url: redis.url, heartbeat: 200 }) })
  t.after(() => app.close())
  return { doomed, url }
}

/** Chunks received (a token frame may carry several). */
function chunksIn (frames: ServerFrame[]): number {
  return frames.reduce((n, f) => n + (f.type === 'token' ? f.chunks : 0), 0)
}

if (availability.skip === undefined && availability.fail === undefined) {
  t.test('a gateway killed with SIGKILL mid-run: its client resumes on another gateway, nothing lost', async (t) => {
    const { doomed, url } = await twoGateways(t)

    const first = await Client.connect(doomed.url)
    first.send({ type: 'start', runId: 'r', task: 'go', options: { example: 'long_stream', words: 4000 } })
    // Far enough for the dead gateway's reader to hold the host at maxRunLag (64) past it.
    await first.until(() => chunksIn(first.run('r')) >= 300)
    await doomed.kill()
    await first.closed
    const seen = first.run('r')
    const second = await Client.connect(url)
    t.after(() => second.close())
    second.send({ type: 'attach', runId: 'r', after: lastSeq(seen), resumeToken: first.tokens.get('r') })
    const rest = await second.untilEnded('r')
    const all = [...seen, ...rest]
    t.same(seqProblems(all, 'v2'), [], 'every seq once, across the dead gateway and the live one')
    t.equal(words(all), Array.from({ length: 4000 }, (_, i) => `w${i}`).join(' '), 'the whole answer')
  })

  t.test('the client library with two gateways: its gateway killed, it goes on on the other by itself', async (t) => {
    const { doomed, url } = await twoGateways(t)
    const client = nodeClient([doomed.url, url])
    t.after(() => client.close())
    const run = client.start('go', { runId: 'r', options: { example: 'long_stream', words: 4000 } })
    const { frames, done } = collect(run)
    await untilFrame(run, () => run.lastSeq >= 300)
    await doomed.kill()
    const result = await run.result
    await done
    t.ok(result.stop_reason !== undefined)
    t.same(seqProblems(frames, 'v2'), [], 'every seq once, across the two gateways')
    t.equal(words(frames), Array.from({ length: 4000 }, (_, i) => `w${i}`).join(' '), 'the whole answer')
    t.same(client.states.filter((s) => s.state === 'reconnecting').map((s) => [s.code, s.attempt]), [[1006, 1]], 'one reconnect, to the other gateway')
  })

  t.test('Redis unreachable for a while: starts are refused with AGS_STORE_UNAVAILABLE, the run goes on after', async (t) => {
    const redis = await startRedis()
    t.after(() => redis.stop())
    const host = await startHost(redis.url)
    t.after(() => host.stop())
    const { app, url } = await startServer({ runs: redisRuns({ url: redis.url, heartbeat: 200, redisOptions: { connectTimeout: 500, commandTimeout: 500 } }) })
    t.after(() => app.close())
    const c = await Client.connect(url)
    t.after(() => c.close())
    c.send({ type: 'start', runId: 'r', task: 'go', options: { example: 'long_stream', words: 3000 } })
    await c.until(() => chunksIn(c.run('r')) >= 100)
    redis.pause()
    c.send({ type: 'start', runId: 'during', task: 'go', options: { example: 'streaming_agent' } })
    await c.until((frames) => frames.some((f) => f.type === 'error' && !('seq' in f)))
    t.match(c.frames.find((f) => f.type === 'error' && !('seq' in f)), { code: 'AGS_STORE_UNAVAILABLE', message: 'The run store cannot be reached: try again later', ref: { type: 'start', runId: 'during' } }, 'no address or Redis error text reaches the client')
    redis.resume()
    const frames = await c.untilEnded('r')
    t.same(seqProblems(frames, 'v2'), [], 'every seq once')
    t.equal(words(frames), Array.from({ length: 3000 }, (_, i) => `w${i}`).join(' '), 'the whole answer, once Redis is back')
    c.send({ type: 'start', runId: 'after', task: 'go', options: { example: 'streaming_agent' } })
    t.equal((await c.untilEnded('after')).at(-1)?.type, 'result', 'and new runs start again')
  })

  t.test('Redis restarted without its data mid-run: the reader ends with AGS_STORE_UNAVAILABLE right after what it had; new runs work', async (t) => {
    const redis = await startRedis()
    t.after(() => redis.stop())
    const host = await startHost(redis.url)
    t.after(() => host.stop())
    const { app, url } = await startServer({ runs: redisRuns({ url: redis.url, heartbeat: 200, redisOptions: { connectTimeout: 500 } }) })
    t.after(() => app.close())
    const c = await Client.connect(url)
    t.after(() => c.close())
    c.send({ type: 'start', runId: 'r', task: 'x', options: { example: 'slow_agent' } })
    await c.until(() => c.run('r').length >= 2)
    await redis.restart()
    const frames = await c.untilEnded('r')
    t.same(frames.map((f) => f.type), ['started', 'event', 'error'])
    t.match(frames.at(-1), { type: 'error', seq: 2, code: 'AGS_STORE_UNAVAILABLE' }, 'no hole in the seqs, no wait for ever')
    // The gateway reconnects by itself; the host recreates its consumer group.
    let result: string | undefined
    for (let i = 0; i < 100 && result === undefined; i++) {
      const id = `after-${i}`
      c.send({ type: 'start', runId: id, task: 'x', options: { example: 'streaming_agent' } })
      await c.until((all) => all.some((f) => ('runId' in f && f.runId === id && f.type !== 'started' && ['result', 'error', 'cancelled'].includes(f.type)) || (f.type === 'error' && !('seq' in f) && f.ref?.runId === id)))
      const end = c.frames.find((f) => ('runId' in f && f.runId === id && ['result', 'error', 'cancelled'].includes(f.type)) || (f.type === 'error' && !('seq' in f) && f.ref?.runId === id))
      if (end?.type === 'result') result = id
      else await new Promise((resolve) => setTimeout(resolve, 100))
    }
    t.ok(result !== undefined, `a new run reaches its result once Redis is back (${String(result)})`)
  })
}
