import t from 'tap'
import { agUiServer, bearerIdentity, protocolErrors, runAgent, runInput, SseClient } from './fixtures/ag-ui.js'
import { historyRunner } from './fixtures/runners.js'

/*
 * A stream with nothing to say for pingInterval gets an SSE comment line
 * (`:`), which proxies count as traffic and every SSE reader skips: AG-UI's
 * HttpAgent sees only the run's events.
 */

const alice = { authorization: 'Bearer alice' }

t.test('a silent stream gets a comment line every pingInterval; the stock HttpAgent reads past it', async (t) => {
  const { url } = await agUiServer(t, { runner: historyRunner(), authenticate: bearerIdentity, pingInterval: 20 })
  const raw = new SseClient(url, { headers: alice, body: runInput({ runId: 'quiet', threadId: 'q', forwardedProps: { hold: true } }) })
  await raw.until((c) => c.text.split('\n:\n\n').length > 3)
  t.same(raw.events.map((e) => e.type), ['RUN_STARTED', 'TEXT_MESSAGE_START', 'TEXT_MESSAGE_CONTENT', 'TEXT_MESSAGE_END'], 'comments are no events')
  t.match(raw.text, /^id: 0\ndata: \{[^\n]+\}\n\n/)

  let comments = 0
  let deleted: Promise<Response> | undefined
  const run = await runAgent(url, {
    headers: alice,
    threadId: 'q2',
    params: { runId: 'quiet-2', forwardedProps: { hold: true } },
    // Once the agent's stream carried two comments, the run is ended.
    onText: (text) => {
      comments += text.split(':\n\n').length - 1
      if (comments >= 2) deleted ??= fetch(`${url}/runs/quiet-2`, { method: 'DELETE', headers: alice })
    }
  })
  t.equal((await deleted)?.status, 204)
  t.equal(run.error, undefined)
  t.same(run.warnings, [])
  t.same(run.seen.map((e) => e.type), ['RUN_STARTED', 'TEXT_MESSAGE_START', 'TEXT_MESSAGE_CONTENT', 'TEXT_MESSAGE_END', 'RUN_FINISHED'])
  t.same(await protocolErrors(run.raw.map((e) => e.event)), [])
  raw.destroy()
})
