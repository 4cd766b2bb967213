import t from 'tap'
import { Redis } from 'ioredis'
import { Client, seqProblems, startServer, untilServerBuffered } from './fixtures/server.js'
import { redisAvailability, startHost, startRedis } from './fixtures/redis.js'
import { redisRuns } from '../lib/redis/index.js'
import type { TokenFrame } from '../lib/index.js'

/*
 * Backpressure across the network: a client that stops reading stops its
 * gateway's reads of the run's stream, its committed position stops, and
 * the worker host stops pulling AutoGen once the stream is maxRunLag
 * ahead of it. Redis then holds a bounded stream; once the client reads
 * again, everything arrives, once.
 */

const availability = redisAvailability()
if (availability.fail !== undefined) t.fail(availability.fail)
if (availability.skip !== undefined) {
  console.error(`# skipped: ${availability.skip}`)
  t.plan(0, availability.skip)
}

const LAG = 64
const WINDOW = 32
const RETAIN = 128
const WORDS = 60_000
// One frame per chunk through a log held at maxRunLag 64 with a read window of
// 32: the rest of the run, after the client reads again, crosses ~900 rounds of
// reader commit -> host append, which took 95 s here on a quiet machine and
// more than tap's 120 s under CI's load.
t.setTimeout(360_000)

/** Resolves with `read()` once three reads 150 ms apart agree: the value has stopped moving. */
async function plateau (read: () => Promise<number>): Promise<number> {
  let last = await read()
  let same = 0
  while (same < 3) {
    await new Promise((resolve) => setTimeout(resolve, 150))
    const now = await read()
    same = now === last ? same + 1 : 0
    last = now
  }
  return last
}

if (availability.skip === undefined && availability.fail === undefined) {
  t.test('a stalled client: the run\'s stream stops at its position + maxRunLag; all of it arrives after', async (t) => {
    const redis = await startRedis()
    t.after(() => redis.stop())
    const host = await startHost(redis.url)
    t.after(() => host.stop())
    const { app, url } = await startServer({
      maxRunLag: { events: LAG },
      retainEvents: RETAIN,
      stallTimeout: 0,
      // One frame per chunk: merged, the run's 60,000 words would fit in the
      // kernel's socket buffers and never congest the socket.
      coalesceTokens: false,
      runs: redisRuns({ url: redis.url, readWindow: WINDOW, heartbeat: 200 })
    })
    t.after(() => app.close())
    const probe = new Redis(redis.url)
    t.after(() => probe.disconnect())

    const c = await Client.connect(url)
    t.after(() => c.close())
    c.send({ type: 'start', runId: 'big', task: 'go', options: { example: 'long_stream', words: WORDS } })
    await c.until(() => c.run('big').length > 10)
    c.ws.pause()
    // The kernel's buffers fill first (megabytes on loopback), then the server's socket holds frames.
    await untilServerBuffered(app, 64 * 1024)
    const [metaKey] = await probe.keys('ags:run:*:meta')
    const logKey = String(metaKey).replace(/:meta$/, ':log')
    const readersKey = String(metaKey).replace(/:meta$/, ':readers')
    const head = async (): Promise<number> => {
      const [last] = await probe.xrevrange(logKey, '+', '-', 'COUNT', 1)
      return last === undefined ? -1 : Number(last[0].split('-')[0])
    }
    const held = await plateau(head)
    const positions = Object.values(await probe.hgetall(readersKey)).map(Number)
    t.equal(positions.length, 1, 'one reader')
    const position = positions[0] as number
    t.ok(held < WORDS, `the host is held (log head ${held} of ${WORDS + 2})`)
    t.equal(held - position, LAG, `the stream is exactly maxRunLag (${LAG}) ahead of the reader's committed position (${position})`)
    const kept = await probe.xlen(logKey)
    t.ok(kept <= LAG + RETAIN + 1, `Redis keeps ${kept} entries of this run: at most maxRunLag + retainEvents + 1 (${LAG + RETAIN + 1})`)
    const memory = await probe.memory('USAGE', logKey) as number
    t.ok(memory < 256 * 1024, `the run's stream takes ${memory} bytes in Redis`)
    console.error(`# held at head ${held}, reader at ${position}, ${kept} entries kept, MEMORY USAGE ${memory} bytes`)

    c.ws.resume()
    const frames = await c.untilEnded('big')
    t.same(seqProblems(frames, 'v2'), [], 'every seq once')
    const text = frames.filter((f): f is TokenFrame & { runId: string, seq: number } => f.type === 'token').map((f) => f.text).join('')
    t.equal(text.split(' ').length, WORDS, 'every word arrived')
    t.equal(frames.at(-1)?.type, 'result')
  })
}
