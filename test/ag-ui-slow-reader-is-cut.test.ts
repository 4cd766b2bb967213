import t from 'tap'
import { agUiServer, bearerIdentity, runInput, SseClient, textOf } from './fixtures/ag-ui.js'
import { chunk, result } from './fixtures/events.js'
import { waitFor } from './fixtures/server.js'
import type { AutoGenEvent, RunContext, RunRequest } from '../lib/index.js'

/*
 * A stream whose reader does not read for stallTimeout is cut: alone on its
 * run, the run is cancelled (agUi.onDisconnect 'cancel') with reason
 * slow_consumer; beside a reader that keeps up, only the stalled stream
 * goes, and the run goes on for the other.
 */

const alice = { authorization: 'Bearer alice' }
const reasons: unknown[] = []
/** Opened by the test once every reader is there: until then the run has only begun. */
let open: () => void = () => {}
const gate = new Promise<void>((resolve) => { open = resolve })

/** Chunks `options.size` characters long (one word each, padded), `options.words` of them (default: no end), as fast as they are pulled. */
async function * flood (request: RunRequest, context: RunContext): AsyncGenerator<AutoGenEvent> {
  context.signal.addEventListener('abort', () => reasons.push((context.signal.reason as { message?: string }).message))
  const words = Number(request.options.words ?? Infinity)
  const size = Number(request.options.size ?? 1)
  yield chunk('', 'flood')
  if (request.options.gated === true) await gate
  for (let i = 0; i < words; i++) yield chunk(word(i, size), 'flood')
  yield result([], 'done')
}

const word = (i: number, size: number): string => `w${i} `.padEnd(size, '.')

t.test('a stream nobody reads for stallTimeout is cut, and its run cancelled (slow_consumer)', async (t) => {
  const { app, url } = await agUiServer(t, { runner: flood, stallTimeout: 300 })
  const stalled = new SseClient(url, { body: runInput({ runId: 'stalled' }), paused: true })
  t.after(() => stalled.destroy())
  // A reader that does not read does not see its connection go either: the run's end is what tells.
  await waitFor(() => reasons.length === 1)
  t.same(reasons, ['The run was cancelled (slow_consumer)'], 'the runner saw the cancel')
  await waitFor(() => app.autogenStream.runs === 0)
  stalled.resume()
  await stalled.done
  t.not(stalled.events.at(-1)?.type, 'RUN_FINISHED', 'the stalled stream was cut before its end')
})

t.test('beside a reader that keeps up, a stalled stream is cut and the run goes on to its end for the other', async (t) => {
  const { url } = await agUiServer(t, { runner: flood, authenticate: bearerIdentity, stallTimeout: 300, maxRunLag: { events: 16 } })
  // 30 MB in 1 KB chunks: more than the sockets' buffers hold for a reader that does not read.
  const WORDS = 30_000
  const stalled = new SseClient(url, { headers: alice, body: runInput({ runId: 'shared', forwardedProps: { words: WORDS, size: 1000, gated: true } }), paused: true })
  await stalled.response()
  const reader = new SseClient(`${url}/runs/shared?after=0`, { headers: alice })
  await reader.response()
  open()
  await reader.done
  stalled.resume()
  await stalled.done
  t.not(stalled.events.at(-1)?.type, 'RUN_FINISHED', 'the stalled stream was cut before its end')
  const events = reader.events
  t.same(events.map((e) => e.type).filter((type, i, all) => type !== all[i - 1]), ['TEXT_MESSAGE_START', 'TEXT_MESSAGE_CONTENT', 'TEXT_MESSAGE_END', 'RUN_FINISHED'])
  t.ok(textOf(events, 'flood') === Array.from({ length: WORDS }, (_, i) => word(i, 1000)).join(''), 'every word, once, in order')
  t.match(events.at(-1), { type: 'RUN_FINISHED', outcome: { type: 'success' } })
  t.same(reasons, ['The run was cancelled (slow_consumer)'], 'only the first test\'s run was cancelled')
})
