import t from 'tap'
import { agUiServer, bearerIdentity, collapsed, protocolErrors, runAgent, runInput, SseClient } from './fixtures/ag-ui.js'
import { examplesRunner } from './fixtures/python.js'
import { result, text } from './fixtures/events.js'
import type { AutoGenEvent, RunContext, RunRequest } from '../lib/index.js'

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

t.test('a stream that resumes after the input request gets it again first, unnumbered; answers that are no answer are refused', async (t) => {
  const { url } = await agUiServer(t, {
    authenticate: bearerIdentity,
    async * runner (_request: RunRequest, context: RunContext): AsyncGenerator<AutoGenEvent> {
      yield text('Shall I go on?')
      const answer = await context.requestInput('Go on?', { requestId: 'ask-1' })
      yield text(`You said: ${answer}`)
      yield result()
    }
  })
  const post = new SseClient(url, { headers: alice, body: runInput({ runId: 'ask' }) })
  await post.until((c) => c.events.some((e) => e.name === 'autogen-stream.input_request'))
  const askedAt = post.parser.events.find((e) => e.event.name === 'autogen-stream.input_request')?.id as string
  const resumed = new SseClient(`${url}/runs/ask`, { headers: { ...alice, 'last-event-id': askedAt } })
  await resumed.until((c) => c.parser.events.length > 0)
  t.same(resumed.parser.events, [{ id: undefined, event: { type: 'CUSTOM', name: 'autogen-stream.input_request', value: { requestId: 'ask-1', prompt: 'Go on?' } } }],
    'the pending request, sent again without an id: Last-Event-ID stays where it was')

  const send = async (body: unknown): Promise<[number, unknown]> => {
    const res = await fetch(`${url}/runs/ask/input`, { method: 'POST', headers: { ...alice, 'content-type': 'application/json' }, body: JSON.stringify(body) })
    return [res.status, res.status === 204 ? undefined : await res.json()]
  }
  const refusal = { code: 'AGS_BAD_INPUT', message: 'Not a request this server can run: the body must be { "requestId": string (1-256 characters), "content": string }' }
  t.same(await send({ requestId: 'ask-1' }), [400, refusal])
  t.same(await send({ requestId: '', content: 'yes' }), [400, refusal])
  t.same(await send(['ask-1', 'yes']), [400, refusal])
  t.same(await send({ requestId: 'ask-1', content: 'yes' }), [204, undefined])
  t.same(await send({ requestId: 'ask-1', content: 'again' }), [404, { code: 'AGS_UNKNOWN_REQUEST', message: 'Run "ask" is not waiting for input "ask-1"' }], 'the first answer wins')
  await Promise.all([post.done, resumed.done])
  for (const client of [post, resumed]) t.match(client.events.slice(-4), [{ type: 'TEXT_MESSAGE_START' }, { type: 'TEXT_MESSAGE_CONTENT', delta: 'You said: yes' }, { type: 'TEXT_MESSAGE_END' }, { type: 'RUN_FINISHED' }])
  t.same(await protocolErrors(post.events), [])
})
