import t from 'tap'
import { startServer, Client } from './fixtures/server.js'
import { examplesRunner, runStats, workerStats } from './fixtures/python.js'
import type { TokenFrame } from '../lib/index.js'

const WORDS = 400_000
const HWM = 16
const CREDIT = 8
/** Frames the run's log takes beyond what the stalled client read (maxRunLag.events). */
const LAG = 32

async function plateau (read: () => Promise<number>): Promise<number> {
  let last = -1
  let stable = 0
  while (stable < 10) {
    await new Promise((resolve) => setTimeout(resolve, 100))
    const now = await read()
    stable = now === last ? stable + 1 : 0
    last = now
  }
  return last
}

t.test('a stalled client stops run_stream() being pulled in Python; another run in the same worker goes on', async (t) => {
  const runner = examplesRunner({ workers: 1, credit: CREDIT })
  const { app, url } = await startServer({ runner, highWaterMark: HWM, maxRunLag: { events: LAG }, stallTimeout: 0 })
  t.after(() => app.close())
  const stalled = await Client.connect(url)
  t.after(() => stalled.close())
  stalled.ws.pause()
  stalled.send({ type: 'start', runId: 'stalled', task: 'x', options: { example: 'long_stream', words: WORDS } })

  const pulled = async (): Promise<number> => runStats((await workerStats(runner))[0], 'stalled')?.pulled ?? 0
  const held = await plateau(pulled)
  t.ok(held > 0 && held < WORDS, `Python pulled ${held} of ${WORDS} items, then stopped`)
  // Items pulled in Python = written to the socket + in the run's log, unread
  // (<= maxRunLag.events) + queued in Node (<= HWM + 1 held) + granted credit.
  const written = app.autogenStream.counters.tokens
  t.ok(held - written <= HWM + LAG + CREDIT + 4, `items pulled but not written: ${held - written} <= highWaterMark + maxRunLag.events + credit + 4`)
  t.ok(runStats((await workerStats(runner))[0], 'stalled')?.credit === 0, 'the stalled run has no credit left')

  // Meanwhile another client's run in the same worker streams to the end.
  const other = await Client.connect(url)
  t.after(() => other.close())
  other.send({ type: 'start', runId: 'other', task: 'x', options: { example: 'long_stream', words: 2000 } })
  const frames = await other.untilEnded('other')
  t.equal(frames.at(-1)?.type, 'result')
  t.equal(frames.filter((f): f is TokenFrame => f.type === 'token').reduce((n, f) => n + f.chunks, 0), 2000)
  t.equal(await pulled(), held, 'the stalled run was not pulled while the other ran')
  t.same(runner.pids.length, 1)
})
