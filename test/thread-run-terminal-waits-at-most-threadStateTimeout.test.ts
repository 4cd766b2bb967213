import t from 'tap'
import { Client, startServer } from './fixtures/server.js'
import { askingRunner, historyRunner, stuckRunner } from './fixtures/runners.js'
import { ask } from './fixtures/threads.js'
import type { RunnerObject } from '../lib/index.js'

// A thread run's terminal frame waits for its runner to hand over the
// state (it comes in while the runner unwinds). A runner that never lets
// go cannot hold the frame, nor the thread, for longer than
// threadStateTimeout: the frame then goes out with what was saved, if
// anything, else with stateError AGS_THREAD_STATE_FAILED.

const TIMEOUT = 50
const NOT_SAVED = { code: 'AGS_THREAD_STATE_FAILED', message: `The thread's state could not be saved: the runner did not finish within ${TIMEOUT} ms (threadStateTimeout)` }

/** A server whose runner is `stuck` for runs with options.stuck, and historyRunner's otherwise. */
async function serve (t: { after: (fn: () => unknown) => void }, stuck: RunnerObject, extra: Record<string, unknown> = {}): Promise<Client> {
  const history = historyRunner()
  const runner: RunnerObject = {
    threads: true,
    interrupts: stuck.interrupts === true,
    run: (request, context) => request.options.stuck === true ? stuck.run(request, context) : history.run(request, context)
  }
  const { app, url } = await startServer({ runner, threadStateTimeout: TIMEOUT, ...extra })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  return c
}

t.test('a cancel whose runner never lets go: `cancelled` after threadStateTimeout, without a state; the thread goes on', async (t) => {
  const c = await serve(t, stuckRunner())
  c.send({ type: 'start', runId: 'r1', threadId: 'chat', task: 'm1', options: { stuck: true } })
  await c.until(() => c.run('r1').some((f) => f.type === 'event'))
  c.send({ type: 'cancel', runId: 'r1' })
  const frames = await c.untilEnded('r1')
  t.same(frames.at(-1), { type: 'cancelled', runId: 'r1', seq: 2, reason: 'client', stateError: NOT_SAVED })

  const info = await ask(c, { type: 'thread', threadId: 'chat' })
  if (info.type !== 'thread') throw new Error(JSON.stringify(info))
  t.same(info.runs.map((r) => [r.runId, r.state, r.outcome, r.stateSaved]), [['r1', 'ended', 'cancelled', false]], 'the thread is free again')
  c.send({ type: 'start', runId: 'r2', threadId: 'chat', task: 'm2' })
  t.match((await c.untilEnded('r2')).at(-1), { type: 'result', result: { messages: [{ content: 'seen: m2' }] } })
})

t.test("a TaskResult whose runner's return() never settles: the result after threadStateTimeout, with the state it saved", async (t) => {
  const c = await serve(t, stuckRunner({ result: true, save: { history: ['m1'] } }))
  c.send({ type: 'start', runId: 'r1', threadId: 'chat', task: 'm1', options: { stuck: true } })
  const frames = await c.untilEnded('r1')
  t.same(frames.at(-1), { type: 'result', runId: 'r1', seq: 1, result: { type: 'TaskResult', messages: [], stop_reason: 'done' } })
  c.send({ type: 'start', runId: 'r2', threadId: 'chat', task: 'm2' })
  t.match((await c.untilEnded('r2')).at(-1), { type: 'result', result: { messages: [{ content: 'seen: m1 | m2' }] } }, 'its state was kept')
})

t.test('the same without a state saved: the result carries stateError', async (t) => {
  const c = await serve(t, stuckRunner({ result: true }))
  c.send({ type: 'start', runId: 'r1', threadId: 'chat', task: 'm1', options: { stuck: true } })
  t.same((await c.untilEnded('r1')).at(-1), { type: 'result', runId: 'r1', seq: 1, result: { type: 'TaskResult', messages: [], stop_reason: 'done' }, stateError: NOT_SAVED })
})

t.test('an interrupt whose runner never ends: error AGS_INTERRUPT_FAILED after threadStateTimeout; nothing waits for an answer', async (t) => {
  const c = await serve(t, askingRunner({ ignoreInterrupt: true }), { holdInputFor: 0 })
  c.send({ type: 'start', runId: 'r1', threadId: 'chat', task: 'hi', options: { stuck: true } })
  const frames = await c.untilEnded('r1')
  t.same(frames.map((f) => f.type), ['started', 'event', 'input_request', 'error'])
  t.same(frames.at(-1), {
    type: 'error',
    runId: 'r1',
    seq: 3,
    code: 'AGS_INTERRUPT_FAILED',
    message: `The run waited for input longer than holdInputFor, but could not be held for the answer: its runner did not end within ${TIMEOUT} ms (threadStateTimeout)`,
    stateError: NOT_SAVED
  })
  const info = await ask(c, { type: 'thread', threadId: 'chat' })
  if (info.type !== 'thread') throw new Error(JSON.stringify(info))
  t.equal(info.pending, undefined)
  t.same(info.runs.map((r) => [r.runId, r.outcome, r.stateSaved]), [['r1', 'error', false]])
})
