import t from 'tap'
import { agUiServer, collapsed, protocolErrors, runInput, SseClient, textOf } from './fixtures/ag-ui.js'
import { examplesRunner, runStats, workerStats } from './fixtures/python.js'

const WORDS = 400_000
const HWM = 16
const CREDIT = 8
/** Frames the run's log takes beyond what the stalled reader was handed (maxRunLag.events). */
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

t.test('an SSE reader that stops reading stops run_stream() being pulled in Python; once it reads, it gets every event', async (t) => {
  const runner = examplesRunner({ workers: 1, credit: CREDIT })
  const { app, url } = await agUiServer(t, { runner, highWaterMark: HWM, maxRunLag: { events: LAG }, stallTimeout: 0 })
  const stalled = new SseClient(url, { body: runInput({ runId: 'stalled', forwardedProps: { example: 'long_stream', words: WORDS } }), paused: true })
  t.after(() => stalled.destroy())
  await stalled.response()
  t.equal(stalled.status, 200)

  const pulled = async (): Promise<number> => runStats((await workerStats(runner))[0], 'stalled')?.pulled ?? 0
  const held = await plateau(pulled)
  t.ok(held > 0 && held < WORDS, `Python pulled ${held} of ${WORDS} items, then stopped`)
  // Items pulled in Python = written to the response + in the run's log, unread
  // (<= maxRunLag.events) + queued in Node (<= HWM + 1 held) + granted credit.
  const written = app.autogenStream.counters.tokens
  t.ok(held - written <= HWM + LAG + CREDIT + 4, `items pulled but not written: ${held - written} <= highWaterMark + maxRunLag.events + credit + 4`)
  t.equal(runStats((await workerStats(runner))[0], 'stalled')?.credit, 0, 'the stalled run has no credit left')
  t.equal(app.autogenStream.runsAttached, 1, 'the stream still reads its run: held, not dropped')

  stalled.resume()
  await stalled.done
  const events = stalled.events
  t.same(collapsed(events), ['RUN_STARTED', 'CUSTOM', 'TEXT_MESSAGE_START', 'TEXT_MESSAGE_CONTENT', 'TEXT_MESSAGE_END', 'RUN_FINISHED'])
  const messageId = events[2]?.messageId as string
  const text = textOf(events, messageId)
  t.equal(text.length, Array.from({ length: WORDS }, (_, i) => `w${i}`).join(' ').length)
  t.ok(text === Array.from({ length: WORDS }, (_, i) => `w${i}`).join(' '), 'every word, in order, once')
  t.same(await protocolErrors(events), [])
  t.equal(app.autogenStream.counters.tokens, WORDS)
  t.equal(stalled.parser.rest, '', 'the stream ended on an event boundary')
})
