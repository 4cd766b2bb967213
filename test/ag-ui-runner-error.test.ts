import t from 'tap'
import { agUiServer, collapsed, protocolErrors, runAgent, textOf } from './fixtures/ag-ui.js'
import { examplesRunner } from './fixtures/python.js'

t.test('a runner error mid-answer: the open message is closed, then RUN_ERROR with the code the run ended with', async (t) => {
  const { url } = await agUiServer(t, { runner: examplesRunner() })
  const run = await runAgent(url, { params: { forwardedProps: { example: 'breaks_mid_answer' } } })
  t.same(run.warnings, [])
  const events = run.raw.map((e) => e.event)
  t.same(await protocolErrors(events), [])
  t.same(collapsed(events), ['RUN_STARTED', 'TEXT_MESSAGE_START', 'TEXT_MESSAGE_CONTENT', 'TEXT_MESSAGE_END', 'RUN_ERROR'])
  t.equal(textOf(events, 'answer-1'), 'The answer is ')
  t.same(events.at(-1), { type: 'RUN_ERROR', message: 'The model went away mid-answer', code: 'MODEL_DOWN' })
  t.same(run.seen.at(-1), events.at(-1), "HttpAgent's subscribers see it as sent")
})

t.test("errors of the bridge and of a team reach the client with their code (the bridge's own, or the RunError's)", async (t) => {
  const { url } = await agUiServer(t, { runner: examplesRunner() })
  const factory = await runAgent(url, { params: { forwardedProps: { example: 'failing_factory' } } })
  t.same(factory.raw.map((e) => e.event), [
    { type: 'RUN_STARTED', threadId: factory.agent.threadId, runId: (factory.raw[0]?.event as { runId: string }).runId, protocolVersion: '1.0' },
    { type: 'RUN_ERROR', message: 'The agent factory failed', code: 'AGS_FACTORY_ERROR' }
  ])
  const team = await runAgent(url, { params: { forwardedProps: { test_factory: 'raising_team' } } })
  const events = team.raw.map((e) => e.event)
  t.same(await protocolErrors(events), [])
  t.same(events.at(-1), { type: 'RUN_ERROR', message: 'The team cannot take this task:\nit is about the weather', code: 'TEAM_REFUSED' })
})
