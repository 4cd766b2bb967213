import t from 'tap'
import { protocolErrors, runInput, SseClient } from './fixtures/ag-ui.js'
import { startServer } from './fixtures/server.js'
import { chunk, result } from './fixtures/events.js'
import type { AutoGenEvent, RunContext, RunRequest } from '../lib/index.js'

/*
 * fastify.close() with AG-UI streams open: every run is cancelled; a stream
 * that reads gets how its run ended and ends; a stalled one gets its
 * ending written past its congestion and is cut after closeGrace. close()
 * never waits on a client that does not read.
 */

let stalledPulled = 0

async function * runner (request: RunRequest, context: RunContext): AsyncGenerator<AutoGenEvent> {
  if (request.options.flood === true) {
    // As fast as it is pulled: the stalled stream fills its socket.
    for (let i = 0; ; i++) {
      stalledPulled++
      yield chunk(`w${i} `, 'flood')
    }
  }
  yield chunk('Thinking', 'm1')
  await new Promise((resolve) => context.signal.addEventListener('abort', resolve, { once: true }))
  yield result()
}

t.test('fastify.close() ends AG-UI streams: RUN_FINISHED cancelled (shutdown) for a reader, a cut after closeGrace for a stalled one', async (t) => {
  const { app, url } = await startServer({ runner, agUi: true, closeGrace: 100, stallTimeout: 0 })
  const base = `${new URL(url).origin.replace('ws:', 'http:')}/ag-ui`
  const reading = new SseClient(base, { body: runInput({ runId: 'reading' }) })
  await reading.until((c) => c.events.some((e) => e.type === 'TEXT_MESSAGE_CONTENT'))
  const stalled = new SseClient(base, { body: runInput({ runId: 'stalled', forwardedProps: { flood: true } }), paused: true })
  await stalled.response()
  // Held: the runner is no longer pulled (its stream waits for 'drain', the log is at maxRunLag).
  let last = -1
  while (last !== stalledPulled) {
    last = stalledPulled
    await new Promise((resolve) => setTimeout(resolve, 50))
  }

  await app.close()
  await reading.done
  t.same(await protocolErrors(reading.events), [])
  t.same(reading.events.map((e) => e.type), ['RUN_STARTED', 'TEXT_MESSAGE_START', 'TEXT_MESSAGE_CONTENT', 'TEXT_MESSAGE_END', 'RUN_FINISHED'])
  t.same(reading.events.at(-1), { type: 'RUN_FINISHED', threadId: 'thread-1', runId: 'reading', outcome: { type: 'cancelled' }, metadata: { 'autogen-stream': { reason: 'shutdown' } } })
  t.equal(reading.parser.rest, '')

  stalled.resume()
  await stalled.done
  t.equal(stalled.events[0]?.type, 'RUN_STARTED', 'the stalled stream got what its socket held, and was cut')
  t.equal(app.autogenStream.runs, 0)
})
