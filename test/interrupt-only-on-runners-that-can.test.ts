import t from 'tap'
import { Client, startServer } from './fixtures/server.js'
import { askingRunner } from './fixtures/runners.js'
import type { RunContext, RunRequest } from '../lib/index.js'

// holdInputFor applies to a thread's runs on a runner that says it can go
// on from an interrupted question (interrupts: true), and to requests it
// did not mark interruptible: false. Everything else waits for its input.

t.test('a runner without interrupts: true keeps its thread run waiting, holdInputFor 0 or not', async (t) => {
  const { app, url } = await startServer({ runner: askingRunner({ interrupts: false }), holdInputFor: 0 })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  c.send({ type: 'start', runId: 'r1', threadId: 'who', task: 'hi' })
  await c.until(() => c.run('r1').some((f) => f.type === 'input_request'))
  c.send({ type: 'input', runId: 'r1', requestId: 'q0', content: 'Ann' })
  const frames = await c.untilEnded('r1')
  t.same(frames.map((f) => f.type), ['started', 'event', 'input_request', 'event', 'result'])
  t.match(frames.at(-1), { result: { messages: [{ content: 'hello Ann' }] } })
})

t.test('a request the runner marks interruptible: false waits; the next one is interrupted', async (t) => {
  const asking = askingRunner()
  const runner = {
    threads: true as const,
    interrupts: true as const,
    async * run (request: RunRequest, context: RunContext) {
      if (request.thread?.answer === undefined) {
        // The run cannot go on from this one (say, a question inside a nested team).
        const first = await context.requestInput('Sure?', { requestId: 'nested', interruptible: false })
        if (first !== 'yes') throw new Error('not sure')
      }
      yield * asking.run(request, context)
    }
  }
  const { app, url } = await startServer({ runner, holdInputFor: 0 })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  c.send({ type: 'start', runId: 'r1', threadId: 'who', task: 'hi' })
  await c.until(() => c.run('r1').some((f) => f.type === 'input_request'))
  c.send({ type: 'input', runId: 'r1', requestId: 'nested', content: 'yes' })
  const frames = await c.untilEnded('r1')
  t.same(frames.map((f) => f.type), ['started', 'input_request', 'event', 'input_request', 'interrupted'])
  t.match(frames.at(-1), { type: 'interrupted', requestId: 'q0', prompt: 'Your name?', source: 'user' })
})
