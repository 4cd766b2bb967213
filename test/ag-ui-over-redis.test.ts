import t from 'tap'
import type { AddressInfo } from 'node:net'
import { redisAvailability, redisCluster } from './fixtures/redis.js'
import { collapsed, protocolErrors, runAgent, STREAMING_TEXT, textOf } from './fixtures/ag-ui.js'

/*
 * The AG-UI route of a gateway whose runs are held in Redis (runs:
 * redisRuns) and run by a Python worker host: the stock HttpAgent gets the
 * same events as from a run in the gateway's own process, every event
 * valid (EventSchemas) and the sequence too (verifyEvents).
 */

const availability = redisAvailability()
if (availability.fail !== undefined) t.fail(availability.fail)
if (availability.skip !== undefined) {
  console.error(`# skipped: ${availability.skip}`)
  t.plan(0, availability.skip)
}

if (availability.skip === undefined && availability.fail === undefined) {
  t.test("a streamed answer held in Redis reaches AG-UI's HttpAgent as from a run in process", async (t) => {
    const { gateways: [gateway] } = await redisCluster(t, { plugin: { agUi: true } })
    const port = (gateway?.app.server.address() as AddressInfo).port
    const run = await runAgent(`http://127.0.0.1:${port}/ag-ui`, {
      headers: { 'x-user': 'ann' },
      threadId: 'thread-1',
      messages: [{ id: 'user-1', role: 'user', content: 'Tell me about backpressure' }],
      params: { runId: 'run-1', forwardedProps: { example: 'streaming_agent' } }
    })
    t.equal(run.error, undefined, 'runAgent() resolved')
    const events = run.raw.map((e) => e.event)
    t.same(await protocolErrors(events), [], 'every event passes EventSchemas, the sequence passes verifyEvents')
    t.same(collapsed(events), ['RUN_STARTED', 'CUSTOM', 'TEXT_MESSAGE_START', 'TEXT_MESSAGE_CONTENT', 'TEXT_MESSAGE_END', 'RUN_FINISHED'])
    const start = events[2] as Record<string, any>
    t.equal(textOf(events, start.messageId), STREAMING_TEXT, 'the whole answer, in order')
    t.match(events.at(-1), { type: 'RUN_FINISHED', threadId: 'thread-1', runId: 'run-1', outcome: { type: 'success' } })
  })
}
