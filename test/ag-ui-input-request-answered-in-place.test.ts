import t from 'tap'
import { agUiServer, bearerIdentity, collapsed, protocolErrors, runAgent } from './fixtures/ag-ui.js'
import { examplesRunner } from './fixtures/python.js'

/*
 * A UserProxyAgent's question while the run waits for it: the
 * `autogen-stream.input_request` CUSTOM event, which a client may answer in
 * place (POST path/runs/:runId/input) while the stream stays open. (A run
 * whose input waits past holdInputFor ends with RUN_FINISHED, outcome
 * interrupt, instead: docs/ag-ui.md.)
 */

const alice = { authorization: 'Bearer alice' }

t.test('an input request answered in place: the human\'s answer comes back as a user message, the run goes on to its end', async (t) => {
  const { url } = await agUiServer(t, { runner: examplesRunner(), authenticate: bearerIdentity })
  const answers: Array<[number, unknown]> = []
  const run = await runAgent(url, {
    headers: alice,
    params: { runId: 'hitl', forwardedProps: { example: 'user_proxy_team' } },
    onEvent: (event) => {
      const custom = event as unknown as { type: string, name?: string, value?: { requestId: string } }
      if (custom.type !== 'CUSTOM' || custom.name !== 'autogen-stream.input_request') return
      const answer = async (headers: Record<string, string>, requestId: string): Promise<void> => {
        const res = await fetch(`${url}/runs/hitl/input`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify({ requestId, content: 'APPROVE' }) })
        answers.push([res.status, res.status === 204 ? undefined : await res.json()])
      }
      const requestId = custom.value?.requestId as string
      // Another identity first (nothing to answer), an unknown request, then the owner.
      answer({ authorization: 'Bearer bob' }, requestId).then(async () => await answer(alice, 'nope')).then(async () => await answer(alice, requestId)).catch((err: unknown) => t.error(err))
    }
  })
  t.equal(run.error, undefined)
  t.same(answers, [
    [404, { code: 'AGS_UNKNOWN_RUN', message: 'No run "hitl" for this connection' }],
    [404, { code: 'AGS_UNKNOWN_REQUEST', message: 'Run "hitl" is not waiting for input "nope"' }],
    [204, undefined]
  ])
  const events = run.raw.map((e) => e.event)
  t.same(await protocolErrors(events), [])
  t.same(collapsed(events), [
    'RUN_STARTED', 'CUSTOM',
    'TEXT_MESSAGE_START', 'TEXT_MESSAGE_CONTENT', 'TEXT_MESSAGE_END',
    'CUSTOM', 'CUSTOM',
    'TEXT_MESSAGE_START', 'TEXT_MESSAGE_CONTENT', 'TEXT_MESSAGE_END',
    'RUN_FINISHED'
  ])
  t.same(events.filter((e) => e.type === 'CUSTOM').map((e) => e.name), ['TextMessage', 'UserInputRequestedEvent', 'autogen-stream.input_request'])
  t.same(run.result?.newMessages.map((m) => [m.role, (m as { name?: string }).name, m.content]), [
    ['assistant', 'assistant', 'I drafted a plan for your task. Reply APPROVE to finish, or tell me what to change.'],
    ['user', 'user', 'APPROVE']
  ])
  t.match(events.at(-1), { type: 'RUN_FINISHED', outcome: { type: 'success' } })
})
