import t from 'tap'
import { Client, seqProblems, startServer, waitFor } from './fixtures/server.js'
import { redisAvailability, startHost, startRedis } from './fixtures/redis.js'
import { redisRuns } from '../lib/redis/index.js'
import type { ServerFrame } from '../lib/index.js'

/*
 * Redis killed and started again on the same port and directory
 * (persistence off: it comes back empty) while two runs are under way, one
 * streaming and one quiet. test/redis-gateway-killed-and-redis-paused.test.ts
 * holds the single quiet reader; this one holds every client's outcome, and
 * that nothing is left behind on the gateway, or on the host past
 * detachTimeout: the host does not notice that Redis lost its runs, and goes
 * on with them, unread, until they are abandoned (60 s by default; 60 s is
 * what this test took with the default).
 */

const availability = redisAvailability()
if (availability.fail !== undefined) t.fail(availability.fail)
if (availability.skip !== undefined) {
  console.error(`# skipped: ${availability.skip}`)
  t.plan(0, availability.skip)
}

function chunksIn (frames: ServerFrame[]): number {
  return frames.reduce((n, f) => n + (f.type === 'token' ? f.chunks : 0), 0)
}

/** Starts runs until one reaches its result: the gateway reconnects and the host recreates its consumer group in their own time. */
async function untilARunWorks (c: Client): Promise<string | undefined> {
  for (let i = 0; i < 100; i++) {
    const id = `after-${i}`
    c.send({ type: 'start', runId: id, task: 'x', options: { example: 'streaming_agent' } })
    const ended = (f: ServerFrame): boolean => ('runId' in f && f.runId === id && ['result', 'error', 'cancelled'].includes(f.type)) || (f.type === 'error' && !('seq' in f) && f.ref?.runId === id)
    await c.until((all) => all.some(ended))
    if (c.frames.find(ended)?.type === 'result') return id
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  return undefined
}

if (availability.skip === undefined && availability.fail === undefined) {
  t.test('Redis restarted mid-run: a streaming reader and a quiet one each end with AGS_STORE_UNAVAILABLE right after what they had; nothing is left on the gateway, nor on the host once the lost runs are abandoned', async (t) => {
    const redis = await startRedis()
    t.after(() => redis.stop())
    // Two slots: the lost runs hold them until they are abandoned (detachTimeout); runs the host kept for good would hold them for ever, and the runs after could never start.
    const host = await startHost(redis.url, { concurrency: 2 })
    t.after(() => host.stop())
    const { app, url } = await startServer({ runs: redisRuns({ url: redis.url, heartbeat: 200, redisOptions: { connectTimeout: 500 } }), detachTimeout: 2000 })
    t.after(() => app.close())
    const [streaming, quiet] = [await Client.connect(url), await Client.connect(url)]
    t.after(() => { streaming.close(); quiet.close() })

    streaming.send({ type: 'start', runId: 's', task: 'go', options: { example: 'long_stream', words: 200_000 } })
    quiet.send({ type: 'start', runId: 'q', task: 'x', options: { example: 'slow_agent' } })
    await streaming.until(() => chunksIn(streaming.run('s')) >= 100)
    await quiet.until(() => quiet.run('q').length >= 2)
    await redis.restart()

    const message = 'The run store lost this run (Redis restarted without its data)'
    const s = await streaming.untilEnded('s')
    t.same(seqProblems(s, 'v2'), [], 'streaming: every seq once, up to the error')
    // Either the gateway finds the hole Redis left (the usual case), or the
    // host had written nothing the gateway had not read yet when Redis went:
    // its next frames go into the new Redis right after them, and the run
    // goes on to its result with no hole (seen about one run in four here).
    if (s.at(-1)?.type === 'result') t.pass('streaming: the host wrote on into the new Redis with no hole; the run reached its result')
    else t.match(s.at(-1), { type: 'error', code: 'AGS_STORE_UNAVAILABLE', message }, 'streaming: the error right after its last frame')
    t.ok(s.slice(0, -1).every((f) => f.type === 'started' || f.type === 'token' || f.type === 'event'), 'streaming: tokens and events before it, nothing else')
    const q = await quiet.untilEnded('q')
    t.same(q.map((f) => f.type), ['started', 'event', 'error'])
    t.match(q.at(-1), { type: 'error', seq: 2, code: 'AGS_STORE_UNAVAILABLE', message }, 'quiet: the error right after what it had')

    await waitFor(() => app.autogenStream.runs === 0)
    t.equal(app.autogenStream.connections, 2, 'both connections stay open')
    t.equal(streaming.ws.readyState, streaming.ws.OPEN)
    t.equal(quiet.ws.readyState, quiet.ws.OPEN)

    // Both slots of the host must be free again for these: the first waits, queued in Redis, until the lost runs are abandoned.
    const first = await untilARunWorks(streaming)
    t.ok(first !== undefined, `a new run reaches its result once Redis is back and the host's slots are free (${String(first)})`)
    streaming.send({ type: 'start', runId: 'long-a', task: 'go', options: { example: 'long_stream', words: 300 } })
    quiet.send({ type: 'start', runId: 'long-b', task: 'go', options: { example: 'long_stream', words: 300 } })
    for (const [c, id] of [[streaming, 'long-a'], [quiet, 'long-b']] as const) {
      const frames = await c.untilEnded(id)
      t.equal(frames.at(-1)?.type, 'result', `${id}: both of the host's slots serve again`)
      t.equal(chunksIn(frames), 300)
    }
  })
}
