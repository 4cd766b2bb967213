import t from 'tap'
import { startServer } from './fixtures/server.js'
import { askingRunner } from './fixtures/runners.js'
import { nodeClient } from './fixtures/client.js'
import { isAutogenStreamError, type AutogenStreamError, type InterruptedFrame } from '../lib/client/index.js'

/*
 * A thread's run that waited for input longer than holdInputFor ends
 * `interrupted` (askingRunner asks "Your name?"; holdInputFor 0 interrupts
 * at once). In the client its outcome says so: run.interrupted, an
 * 'interrupted' event, `result` rejected with AGS_RUN_INTERRUPTED (not an
 * 'error'); client.answer() goes on from there.
 */
t.test('an interrupted run through the client, then its answer', async (t) => {
  const { app, url } = await startServer({ runner: askingRunner(), holdInputFor: 0, authenticate: () => ({ id: 'alice' }) })
  t.after(() => app.close())
  const client = nodeClient(url)
  t.after(() => client.close())

  const run = client.start('hi', { runId: 'r1', threadId: 'who' })
  const events: string[] = []
  run.on('interrupted', (frame) => events.push(`interrupted ${frame.requestId}`))
  run.on('error', (err) => events.push(`error ${err.code}`))
  run.on('input_request', (frame) => events.push(`input_request ${frame.requestId}`))
  const err = await run.result.then(() => undefined, (e: AutogenStreamError) => e)
  t.ok(isAutogenStreamError(err, 'AGS_RUN_INTERRUPTED'), String(err))
  t.equal(err?.message, 'The run waits for input "q0" on thread "who": answer it with client.answer()')
  const waiting: InterruptedFrame = { type: 'interrupted', runId: 'r1', seq: 3, threadId: 'who', requestId: 'q0', prompt: 'Your name?', source: 'user' }
  t.same(err?.frame, waiting)
  t.same(run.interrupted, waiting)
  t.same(run.outcome, waiting)
  t.equal(run.state, 'ended')
  t.same(events, ['input_request q0', 'interrupted q0'], "an interrupt is not an 'error'")
  t.same(run.pendingInputs.size, 0, 'the run itself waits for nothing: the thread does')

  const answer = client.answer('who', 'q0', 'Ann', { runId: 'r2' })
  t.equal(answer.threadId, 'who')
  t.same((await answer.result).messages.map((m) => (m as { content?: unknown }).content), ['hello Ann'])
  t.equal(answer.interrupted, undefined)

  const stale = client.answer('who', 'q0', 'Bo', { runId: 'r3' })
  const refused = await stale.result.then(() => undefined, (e: AutogenStreamError) => e)
  t.equal(refused?.code, 'AGS_UNKNOWN_REQUEST')
  t.same(refused?.ref, { type: 'start', runId: 'r3', threadId: 'who', requestId: 'q0' })
})
