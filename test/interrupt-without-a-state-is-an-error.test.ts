import t from 'tap'
import { Client, startServer } from './fixtures/server.js'
import { ask } from './fixtures/threads.js'
import type { RunContext, RunRequest } from '../lib/index.js'
import { text } from './fixtures/events.js'

// `interrupted` promises that an answer can continue the run: only a run
// whose runner kept a state at the question ends so. One that ends with
// none (or a state over maxThreadStateBytes) is an error,
// AGS_INTERRUPT_FAILED, and the thread keeps what it had.

function runner (save: unknown) {
  return {
    threads: true as const,
    interrupts: true as const,
    async * run (_request: RunRequest, context: RunContext) {
      yield text('asking')
      try {
        await context.requestInput('Your name?', { requestId: 'q0', source: 'user' })
      } catch (err) {
        if (save !== undefined) context.saveState(save)
        // Thrown on, not returned: as good as returning.
        throw err
      }
    }
  }
}

t.test('an interrupted runner that saved nothing: error AGS_INTERRUPT_FAILED, with stateError', async (t) => {
  const { app, url } = await startServer({ runner: runner(undefined), holdInputFor: 0 })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  c.send({ type: 'start', runId: 'r1', threadId: 'who', task: 'hi' })
  const frames = await c.untilEnded('r1')
  const reason = "The thread's state could not be saved: the runner saved no state"
  t.same(frames.at(-1), {
    type: 'error',
    runId: 'r1',
    seq: 3,
    code: 'AGS_INTERRUPT_FAILED',
    message: `The run waited for input longer than holdInputFor, but could not be held for the answer: ${reason}`,
    stateError: { code: 'AGS_THREAD_STATE_FAILED', message: reason }
  })
  const info = await ask(c, { type: 'thread', threadId: 'who' })
  if (info.type !== 'thread') throw new Error(JSON.stringify(info))
  t.equal(info.pending, undefined)
})

t.test('one whose state is over maxThreadStateBytes: the same, saying so', async (t) => {
  const { app, url } = await startServer({ runner: runner({ big: 'x'.repeat(100) }), holdInputFor: 0, maxThreadStateBytes: 64 })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  c.send({ type: 'start', runId: 'r1', threadId: 'who', task: 'hi' })
  const last = (await c.untilEnded('r1')).at(-1)
  const reason = "The thread's state is 110 bytes, over maxThreadStateBytes (64): it was not saved"
  t.same(last, {
    type: 'error',
    runId: 'r1',
    seq: 3,
    code: 'AGS_INTERRUPT_FAILED',
    message: `The run waited for input longer than holdInputFor, but could not be held for the answer: ${reason}`,
    stateError: { code: 'AGS_THREAD_STATE_TOO_LARGE', message: reason }
  })
})
