import t from 'tap'
import { agUiServer, bearerIdentity, protocolErrors, runAgent, SseClient } from './fixtures/ag-ui.js'
import { examplesRunner } from './fixtures/python.js'
import { untilWorker } from './fixtures/bridge-resume.js'
import { waitFor } from './fixtures/server.js'

const alice = { authorization: 'Bearer alice' }

t.test("HttpAgent's abortRun() cancels the run inside AutoGen; the run's log ends with RUN_FINISHED, outcome cancelled", async (t) => {
  const runner = examplesRunner()
  const { app, url } = await agUiServer(t, { runner, authenticate: bearerIdentity })
  // A model that takes an hour: the run is inside AutoGen when it is aborted.
  const run = await runAgent(url, {
    headers: alice,
    params: { runId: 'slow-1', forwardedProps: { example: 'slow_agent' } },
    onEvent: (event, agent) => { if (event.type === 'CUSTOM') agent.abortRun() }
  })
  t.same(run.seen.map((e) => e.type), ['RUN_STARTED', 'CUSTOM', 'RUN_ERROR'], 'the client ends its side itself')
  await waitFor(() => app.autogenStream.runs === 0)
  t.equal(app.autogenStream.counters.cancels, 0, 'the cancelled frame was written to nobody')
  await untilWorker(runner, (s) => Object.keys(s.runs).length === 0)
  t.pass('the Python worker no longer has the run')

  // The run's whole log, read again by its owner.
  const replay = new SseClient(`${url}/runs/slow-1`, { headers: alice })
  await replay.done
  t.same(replay.status, 200)
  t.same(await protocolErrors(replay.events), [])
  t.same(replay.events.map((e) => e.type), ['RUN_STARTED', 'CUSTOM', 'RUN_FINISHED'])
  t.same(replay.events.at(-1), { type: 'RUN_FINISHED', threadId: run.agent.threadId, runId: 'slow-1', outcome: { type: 'cancelled' }, metadata: { 'autogen-stream': { reason: 'disconnect' } } })
  t.same(replay.ids, ['0', '1', '2'])
})

t.test("with agUi.onDisconnect 'continue' a cut run goes on, and DELETE on the run cancels it (reason client)", async (t) => {
  const runner = examplesRunner()
  const { app, url } = await agUiServer(t, { runner, authenticate: bearerIdentity, agUi: { onDisconnect: 'continue' } })
  const run = await runAgent(url, {
    headers: alice,
    params: { runId: 'slow-2', forwardedProps: { example: 'slow_agent' } },
    onEvent: (event, agent) => { if (event.type === 'CUSTOM') agent.abortRun() }
  })
  t.same(run.seen.map((e) => e.type), ['RUN_STARTED', 'CUSTOM', 'RUN_ERROR'])
  await waitFor(() => app.autogenStream.runsDetached === 1)
  t.equal(app.autogenStream.runs, 1, 'the run goes on, detached')
  const bob = await fetch(`${url}/runs/slow-2`, { method: 'DELETE', headers: { authorization: 'Bearer bob' } })
  t.same([bob.status, await bob.json()], [404, { code: 'AGS_UNKNOWN_RUN', message: 'No run "slow-2" for this connection' }], 'not for another identity')
  // As a client that sends the JSON type on every request would: no body is no body.
  const deleted = await fetch(`${url}/runs/slow-2`, { method: 'DELETE', headers: { ...alice, 'content-type': 'application/json' } })
  t.equal(deleted.status, 204)
  const replay = new SseClient(`${url}/runs/slow-2?after=1`, { headers: alice })
  await replay.done
  t.same(replay.parser.events, [{ id: '2', event: { type: 'RUN_FINISHED', threadId: run.agent.threadId, runId: 'slow-2', outcome: { type: 'cancelled' }, metadata: { 'autogen-stream': { reason: 'client' } } } }])
  await untilWorker(runner, (s) => Object.keys(s.runs).length === 0)
  const again = await fetch(`${url}/runs/slow-2`, { method: 'DELETE', headers: alice })
  t.equal(again.status, 204, 'an ended run stays ended: no error')
})
