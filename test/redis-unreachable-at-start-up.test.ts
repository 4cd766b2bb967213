import t from 'tap'
import { Client, logCollector, startServer } from './fixtures/server.js'
import { redisAvailability, startHost, startRedis } from './fixtures/redis.js'
import { redisRuns } from '../lib/redis/index.js'
import type { ServerFrame } from '../lib/index.js'

/*
 * Redis not there when the gateway starts: registration does not fail (the
 * gateway waits up to connectTimeout for it, logs at error, and goes on);
 * every start is refused with AGS_STORE_UNAVAILABLE until Redis answers,
 * then runs work without a restart of the gateway.
 */

const availability = redisAvailability()
if (availability.fail !== undefined) t.fail(availability.fail)
if (availability.skip !== undefined) {
  console.error(`# skipped: ${availability.skip}`)
  t.plan(0, availability.skip)
}

if (availability.skip === undefined && availability.fail === undefined) {
  t.test('Redis unreachable at start-up: ready() succeeds with an error logged, starts get AGS_STORE_UNAVAILABLE, and runs work once Redis is up', async (t) => {
    // A port that Redis will come back on: started, then killed before the gateway exists.
    const redis = await startRedis()
    t.after(() => redis.stop())
    await redis.kill()

    const logs = logCollector()
    const { app, url } = await startServer({ runs: redisRuns({ url: redis.url, heartbeat: 200, redisOptions: { connectTimeout: 300 } }) }, undefined, logs.stream)
    t.after(() => app.close())
    t.ok(logs.lines.some((l) => l.level === 50 && l.msg === 'autogen-stream: Redis cannot be reached yet; starts and attaches get AGS_STORE_UNAVAILABLE until it can'), 'registration went on, saying why runs will be refused')

    const c = await Client.connect(url)
    t.after(() => c.close())
    c.send({ type: 'start', runId: 'early', task: 'x', options: { example: 'streaming_agent' } })
    await c.until((frames) => frames.some((f) => f.type === 'error' && !('seq' in f)))
    t.same(c.frames, [{ type: 'error', code: 'AGS_STORE_UNAVAILABLE', message: 'The run store cannot be reached: try again later', ref: { type: 'start', runId: 'early' } }], 'the start is refused, with no address or Redis error text')
    t.equal(app.autogenStream.runs, 0)

    await redis.restart()
    const host = await startHost(redis.url)
    t.after(() => host.stop())
    // The gateway reconnects on its own schedule (ioredis' retry backoff): start until one is taken.
    let result: ServerFrame | undefined
    for (let i = 0; i < 100 && result === undefined; i++) {
      const id = `later-${i}`
      c.send({ type: 'start', runId: id, task: 'x', options: { example: 'streaming_agent' } })
      const ended = (f: ServerFrame): boolean => ('runId' in f && f.runId === id && ['result', 'error', 'cancelled'].includes(f.type)) || (f.type === 'error' && !('seq' in f) && f.ref?.runId === id)
      await c.until((all) => all.some(ended))
      const end = c.frames.find(ended)
      if (end?.type === 'result') result = end
      else {
        t.match(end, { code: 'AGS_STORE_UNAVAILABLE' }, `${id}: refused the same way until the gateway is connected`)
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
    }
    t.ok(result !== undefined, 'a run reaches its result once Redis is up, without restarting the gateway')
    t.equal(c.ws.readyState, c.ws.OPEN)
  })
}
