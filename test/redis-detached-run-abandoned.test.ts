import t from 'tap'
import { Redis } from 'ioredis'
import { Client, startServer } from './fixtures/server.js'
import { redisAvailability, startHost, startRedis } from './fixtures/redis.js'
import { redisRuns } from '../lib/redis/index.js'

/*
 * A run whose client went away for good does not hold a worker host's slot
 * and a model for ever: with nobody reading it for detachTimeout, its host
 * cancels it (`abandoned`), as the in-process runs do. A client that comes
 * back later reads how it ended.
 */

const availability = redisAvailability()
if (availability.fail !== undefined) t.fail(availability.fail)
if (availability.skip !== undefined) {
  console.error(`# skipped: ${availability.skip}`)
  t.plan(0, availability.skip)
}

if (availability.skip === undefined && availability.fail === undefined) {
  t.test('nobody reads it for detachTimeout: cancelled, abandoned; its slot is free again', async (t) => {
    const redis = await startRedis()
    t.after(() => redis.stop())
    const host = await startHost(redis.url, { concurrency: 1 })
    t.after(() => host.stop())
    const { app, url } = await startServer({ detachTimeout: 300, runs: redisRuns({ url: redis.url, heartbeat: 200 }) })
    t.after(() => app.close())
    const probe = new Redis(redis.url)
    t.after(() => probe.disconnect())

    const gone = await Client.connect(url)
    gone.send({ type: 'start', runId: 'r', task: 'x', options: { example: 'slow_agent' } })
    await gone.until(() => gone.run('r').length >= 2)
    const token = gone.tokens.get('r')
    gone.ws.terminate()
    const [metaKey] = await probe.keys('ags:run:*:meta')
    // Wait for the outcome in Redis (the host checks its runs every second).
    while (await probe.hget(String(metaKey), 'state') !== 'ended') await new Promise((resolve) => setTimeout(resolve, 50))
    t.equal(await probe.hget(String(metaKey), 'outcome'), 'cancelled')

    const back = await Client.connect(url)
    t.after(() => back.close())
    back.send({ type: 'attach', runId: 'r', after: 1, resumeToken: token })
    const frames = await back.untilEnded('r')
    t.match(frames.at(-1), { type: 'cancelled', reason: 'abandoned', seq: 2 })
    back.send({ type: 'start', runId: 'next', task: 'x', options: { example: 'streaming_agent' } })
    t.equal((await back.untilEnded('next')).at(-1)?.type, 'result', 'the one slot of the host is free again')
  })

  // The host's check of unread runs used to run only when its writer had
  // been idle for a second: a host busy streaming another run never made
  // it, and a client that never came back held its slot for ever (found by
  // the soak: 75 of 78 abandoned runs through Redis ended with a result).
  t.test('a host busy streaming another run still abandons the unread one', async (t) => {
    const redis = await startRedis()
    t.after(() => redis.stop())
    const host = await startHost(redis.url, { concurrency: 2 })
    t.after(() => host.stop())
    const { app, url } = await startServer({ detachTimeout: 300, runs: redisRuns({ url: redis.url, heartbeat: 200 }) })
    t.after(() => app.close())
    const probe = new Redis(redis.url)
    t.after(() => probe.disconnect())

    const busy = await Client.connect(url)
    t.after(() => busy.close())
    busy.send({ type: 'start', runId: 'busy', task: 'x', options: { example: 'long_stream', words: 200_000 } })
    await busy.until(() => busy.run('busy').filter((f) => f.type === 'token').length >= 10)

    const gone = await Client.connect(url)
    gone.send({ type: 'start', runId: 'r', task: 'x', options: { example: 'slow_agent' } })
    await gone.until(() => gone.run('r').length >= 2)
    const metas = await probe.keys('ags:run:*:meta')
    let metaKey: string | undefined
    for (const key of metas) if (await probe.hget(key, 'runId') === 'r') metaKey = key
    gone.ws.terminate()
    while (await probe.hget(String(metaKey), 'state') !== 'ended') await new Promise((resolve) => setTimeout(resolve, 50))
    t.equal(await probe.hget(String(metaKey), 'outcome'), 'cancelled', 'abandoned')
    t.notOk(busy.run('busy').some((f) => f.type === 'result'), 'while the other run was still streaming')
    busy.send({ type: 'cancel', runId: 'busy' })
    t.equal((await busy.untilEnded('busy')).at(-1)?.type, 'cancelled')
  })
}
