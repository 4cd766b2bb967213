import t from 'tap'
import { examplesRunner } from './fixtures/python.js'
import { Client, startServer } from './fixtures/server.js'
import { answerTheLastQuestion, ask } from './fixtures/threads.js'
import type { EventFrame, InputRequestFrame, InterruptedFrame, ResultFrame, ServerFrame } from '../lib/index.js'

// Real AutoGen through the bridge: bridge_examples.interrupt_round_robin,
// an assistant whose model answers with what it was asked ("seen: user:
// plan | ...") and a UserProxyAgent "user", in turn, until the user says
// APPROVE. A thread's run that waits for the user longer than holdInputFor
// ends with `interrupted` and frees its worker; the answer, an hour later
// on the server's clock, continues the conversation.

const HOLD = 200
const OPTIONS = { example: 'interrupt_round_robin' }

const eventsOf = (frames: ServerFrame[]): Array<Record<string, unknown>> =>
  frames.filter((f): f is EventFrame => f.type === 'event').map((f) => f.event as Record<string, unknown>)

t.test('a run waiting for input longer than holdInputFor ends `interrupted`, frees its worker, and the answer an hour later continues it', async (t) => {
  const runner = examplesRunner({ workers: 1 })
  const { app, url } = await startServer({ runner, holdInputFor: HOLD })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  await runner.ready()

  c.send({ type: 'start', runId: 'r1', threadId: 'week', task: 'plan', options: OPTIONS })
  const first = await c.untilEnded('r1')
  const asked = first.find((f): f is InputRequestFrame & { runId: string, seq: number } => f.type === 'input_request')
  if (asked === undefined) throw new Error(JSON.stringify(first))
  const requested = eventsOf(first).find((e) => e.type === 'UserInputRequestedEvent')
  t.equal(requested?.request_id, asked.requestId, "AutoGen's own request id")
  const reply = eventsOf(first).find((e) => e.type === 'TextMessage' && e.source === 'assistant')
  t.equal(reply?.content, 'seen: user: plan')
  const usage = reply?.models_usage as { prompt_tokens: number, completion_tokens: number }
  t.same(first.at(-1), {
    type: 'interrupted',
    runId: 'r1',
    seq: asked.seq + 1,
    threadId: 'week',
    requestId: asked.requestId,
    prompt: 'Enter your response: ',
    source: 'user',
    usage: { prompt_tokens: usage.prompt_tokens, completion_tokens: usage.completion_tokens }
  }, 'the terminal frame says whom the run waits for, and for what')

  // The worker holds nothing of the run: Node's count and the worker's own.
  t.same(runner.loads, [0], 'no run on the worker, as Node sees it')
  t.equal((await runner.stats())[0]?.active, 0, 'no run on the worker, as the worker sees it')
  t.same([app.autogenStream.runs, app.autogenStream.runsRetained, app.autogenStream.threads], [0, 1, 1], 'no active run on the server; the thread is kept')

  const waiting = await ask(c, { type: 'thread', threadId: 'week' })
  if (waiting.type !== 'thread') throw new Error(JSON.stringify(waiting))
  t.same(waiting.pending, { requestId: asked.requestId, prompt: 'Enter your response: ', source: 'user' }, 'the thread says it waits')
  t.same(waiting.runs.map((r) => [r.runId, r.state, r.outcome, r.stateSaved]), [['r1', 'ended', 'interrupted', true]])

  // An hour passes on the server's clock: nothing of the run waits on it.
  const realNow = Date.now.bind(Date)
  const hour = 60 * 60 * 1000
  t.capture(Date, 'now', () => realNow() + hour)

  c.send({ type: 'start', runId: 'r2', threadId: 'week', answer: { requestId: asked.requestId, content: 'change it' }, options: OPTIONS })
  const second = await c.untilEnded('r2')
  const messages = eventsOf(second).filter((e) => e.type === 'TextMessage').map((e) => [e.source, e.content])
  t.same(messages, [
    ['user', 'change it'],
    ['assistant', 'seen: user: plan | user: change it']
  ], "the answer is the user proxy's message, and the model is asked with it")
  const again = second.find((f): f is InputRequestFrame & { runId: string, seq: number } => f.type === 'input_request')
  if (again === undefined) throw new Error(JSON.stringify(second))
  t.not(again.requestId, asked.requestId)
  // Nobody answers this one in time either.
  t.match(second.at(-1), { type: 'interrupted', threadId: 'week', requestId: again.requestId, source: 'user' })
  t.same(runner.loads, [0])

  const done = await answerTheLastQuestion(t, c, c, asked.requestId, again.requestId, OPTIONS)
  const [r1, r2] = done.runs
  t.ok((r2?.startedAt ?? 0) - (r1?.endedAt ?? 0) >= hour, 'the answer came an hour after the interrupt')
})

t.test('a run without a thread waits as before, whatever holdInputFor says', async (t) => {
  const runner = examplesRunner({ workers: 1 })
  // 0: a thread's run would be interrupted at once.
  const { app, url } = await startServer({ runner, holdInputFor: 0 })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())

  c.send({ type: 'start', runId: 'solo', task: 'plan', options: OPTIONS })
  const frames = await c.until(() => c.run('solo').some((f) => f.type === 'input_request'))
  const asked = frames.find((f): f is InputRequestFrame => f.type === 'input_request') as InputRequestFrame
  t.same(runner.loads, [1], 'the run holds its worker while it waits')
  c.send({ type: 'input', runId: 'solo', requestId: asked.requestId, content: 'APPROVE' })
  const last = (await c.untilEnded('solo')).at(-1) as ResultFrame
  t.equal(last.type, 'result')
  t.same(last.result.messages.filter((m) => m.type === 'TextMessage').map((m) => [m.source, m.content]), [
    ['user', 'plan'], ['assistant', 'seen: user: plan'], ['user', 'APPROVE']
  ])
  t.notOk(c.frames.some((f): f is InterruptedFrame => f.type === 'interrupted'))
})
