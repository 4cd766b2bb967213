import t from 'tap'
import { agUiServer, collapsed, protocolErrors, runAgent, textOf } from './fixtures/ag-ui.js'
import { examplesRunner } from './fixtures/python.js'

t.test('a selector team: each SelectSpeakerEvent starts a step named for the speaker, finished by the next and before RUN_FINISHED', async (t) => {
  const { url } = await agUiServer(t, { runner: examplesRunner() })
  const run = await runAgent(url, { params: { forwardedProps: { example: 'selector_team' } } })
  t.equal(run.error, undefined)
  t.same(run.warnings, [])
  const events = run.raw.map((e) => e.event)
  t.same(await protocolErrors(events), [])
  t.same(collapsed(events), [
    'RUN_STARTED', 'CUSTOM',
    'STEP_STARTED', 'TEXT_MESSAGE_START', 'TEXT_MESSAGE_CONTENT', 'TEXT_MESSAGE_END', 'STEP_FINISHED',
    'STEP_STARTED', 'TEXT_MESSAGE_START', 'TEXT_MESSAGE_CONTENT', 'TEXT_MESSAGE_END', 'STEP_FINISHED',
    'RUN_FINISHED'
  ])
  const steps = events.filter((e) => e.type.startsWith('STEP_'))
  t.same(steps.map((e) => `${String(e.type)} ${String(e.stepName)}`), ['STEP_STARTED writer', 'STEP_FINISHED writer', 'STEP_STARTED critic', 'STEP_FINISHED critic'])
  t.match(steps[0]?.rawEvent, { type: 'SelectSpeakerEvent', content: ['writer'] })
  t.match(steps[2]?.rawEvent, { type: 'SelectSpeakerEvent', content: ['critic'] })
  const starts = events.filter((e) => e.type === 'TEXT_MESSAGE_START')
  t.same(starts.map((e) => e.name), ['writer', 'critic'])
  t.same(starts.map((e) => textOf(events, e.messageId)), ['A draft: streams should respect the slowest reader.', 'Clear and correct. APPROVE'])
  t.same(run.result?.newMessages?.map((m) => [m.role, (m as { name?: string }).name, m.content]), [
    ['assistant', 'writer', 'A draft: streams should respect the slowest reader.'],
    ['assistant', 'critic', 'Clear and correct. APPROVE']
  ])
})
