import t from 'tap'
import { agUiServer, bearerIdentity, collapsed, protocolErrors, runAgent } from './fixtures/ag-ui.js'
import { examplesRunner } from './fixtures/python.js'

/*
 * A thread run whose human input waits past holdInputFor ends `interrupted`:
 * AG-UI's RUN_FINISHED with outcome interrupt, reason input_required. The
 * stock HttpAgent keeps it as a pending interrupt, and its next run answers
 * it with `resume`: the thread goes on from the state the interrupted run
 * saved, the answer as the human's message. Through the Python bridge
 * (bridge_examples.user_proxy_team: an assistant, then the UserProxyAgent
 * `user`, until the user says APPROVE).
 */

const alice = { authorization: 'Bearer alice' }

t.test('an interrupt answered with resume continues the thread from its saved state', async (t) => {
  const { url } = await agUiServer(t, { runner: examplesRunner(), authenticate: bearerIdentity, holdInputFor: 100 })
  const forwardedProps = { example: 'user_proxy_team' }
  const first = await runAgent(url, { headers: alice, threadId: 'plan-1', messages: [{ id: 'u1', role: 'user', content: 'Plan my week' }], params: { runId: 'r1', forwardedProps } })
  t.equal(first.error, undefined)
  const events = first.raw.map((e) => e.event)
  t.same(await protocolErrors(events), [])
  t.same(collapsed(events), ['RUN_STARTED', 'CUSTOM', 'TEXT_MESSAGE_START', 'TEXT_MESSAGE_CONTENT', 'TEXT_MESSAGE_END', 'CUSTOM', 'CUSTOM', 'RUN_FINISHED'])
  const request = events.find((e) => e.name === 'autogen-stream.input_request')?.value as { requestId: string, prompt: string }
  const finished = events.at(-1) as Record<string, any>
  t.same(finished.outcome, { type: 'interrupt', interrupts: [{ id: request.requestId, reason: 'input_required', message: request.prompt, metadata: { source: 'user' } }] })
  t.same(first.agent.pendingInterrupts.map((i) => i.id), [request.requestId], 'HttpAgent keeps the interrupt: its next run must answer it')

  const second = await runAgent(url, { agent: first.agent, headers: alice, params: { runId: 'r2', forwardedProps, resume: [{ interruptId: request.requestId, status: 'resolved', payload: 'APPROVE' }] } })
  t.equal(second.error, undefined)
  const resumed = second.raw.map((e) => e.event)
  t.same(await protocolErrors(resumed), [])
  t.match(resumed.at(-1), { type: 'RUN_FINISHED', threadId: 'plan-1', runId: 'r2', outcome: { type: 'success' } })
  t.same(second.result?.newMessages.map((m) => [m.role, (m as { name?: string }).name, m.content]), [['user', 'user', 'APPROVE']], "the answer is the human's message; the user's APPROVE ends the team")
  t.same(first.agent.pendingInterrupts, [])
})
