import t from 'tap'
import { Client, startServer } from './fixtures/server.js'
import { askingRunner } from './fixtures/runners.js'
import { ask, refusal } from './fixtures/threads.js'
import type { ServerFrame } from '../lib/index.js'

// A start with `answer` continues a thread only at the question its last
// run was interrupted at (askingRunner asks "Your name?" as request q<n>;
// holdInputFor 0 interrupts it at once). Any other requestId, a thread
// with no such question, another identity's thread: AGS_UNKNOWN_REQUEST.

const answering = (runId: string, threadId: string, requestId: string, content = 'Ann'): Record<string, unknown> =>
  ({ type: 'start', runId, threadId, answer: { requestId, content } })

async function serve (t: { after: (fn: () => unknown) => void }): Promise<{ c: Client, url: string }> {
  const { app, url } = await startServer({ runner: askingRunner(), holdInputFor: 0 })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  return { c, url }
}

const unknown = (runId: string, threadId: string, requestId: string): ServerFrame => ({
  type: 'error',
  code: 'AGS_UNKNOWN_REQUEST',
  message: `Thread "${threadId}" is not waiting for input "${requestId}"`,
  ref: { type: 'start', runId, threadId, requestId }
})

t.test('the interrupted frame names the question; only its requestId answers it', async (t) => {
  const { c, url } = await serve(t)
  c.send({ type: 'start', runId: 'r1', threadId: 'who', task: 'hi' })
  const first = await c.untilEnded('r1')
  t.same(first.map((f) => f.type), ['started', 'event', 'input_request', 'interrupted'])
  t.same(first.at(-1), { type: 'interrupted', runId: 'r1', seq: 3, threadId: 'who', requestId: 'q0', prompt: 'Your name?', source: 'user' })

  c.send(answering('r2', 'who', 'q9'))
  t.same(await refusal(c, 'r2'), unknown('r2', 'who', 'q9'), 'another request')
  c.send(answering('r3', 'nowhere', 'q0'))
  t.same(await refusal(c, 'r3'), unknown('r3', 'nowhere', 'q0'), 'no such thread')
  // Another (anonymous) identity: the same answer as for a thread that does not exist.
  const other = await Client.connect(url)
  t.after(() => other.close())
  other.send(answering('r4', 'who', 'q0'))
  t.same(await refusal(other, 'r4'), unknown('r4', 'who', 'q0'), "another identity's thread")

  c.send(answering('r5', 'who', 'q0'))
  t.match((await c.untilEnded('r5')).at(-1), { type: 'result', result: { messages: [{ content: 'hello Ann' }] } })
  c.send(answering('r6', 'who', 'q0'))
  t.same(await refusal(c, 'r6'), unknown('r6', 'who', 'q0'), 'answered: the thread waits no more')
})

t.test('a plain start on a waiting thread drops the question; a run that fails keeps it', async (t) => {
  const { c } = await serve(t)
  c.send({ type: 'start', runId: 'r1', threadId: 'who', task: 'hi' })
  await c.untilEnded('r1')
  // The human typed a new message instead of answering: the run starts from the saved state and asks again.
  c.send({ type: 'start', runId: 'r2', threadId: 'who', task: 'hello again' })
  t.match((await c.untilEnded('r2')).at(-1), { type: 'interrupted', requestId: 'q0' })
  c.send(answering('r3', 'who', 'q0', 'fail'))
  t.match((await c.untilEnded('r3')).at(-1), { type: 'error', code: 'NOPE' })
  let info = await ask(c, { type: 'thread', threadId: 'who' })
  if (info.type !== 'thread') throw new Error(JSON.stringify(info))
  t.same(info.pending, { requestId: 'q0', prompt: 'Your name?', source: 'user' }, 'a run that saved nothing leaves the question as it was')

  c.send(answering('r4', 'who', 'q0', 'Bo'))
  t.match((await c.untilEnded('r4')).at(-1), { type: 'result', result: { messages: [{ content: 'hello Bo' }] } })
  c.send({ type: 'start', runId: 'r5', threadId: 'who', task: 'and now?' })
  t.match((await c.untilEnded('r5')).at(-1), { type: 'interrupted', requestId: 'q1' }, 'the answer is in the thread: one name so far')
  c.send({ type: 'start', runId: 'r6', threadId: 'who', task: 'never mind' })
  t.match((await c.untilEnded('r6')).at(-1), { type: 'interrupted', requestId: 'q1' })
  info = await ask(c, { type: 'thread', threadId: 'who' })
  if (info.type !== 'thread') throw new Error(JSON.stringify(info))
  t.same(info.runs.map((r) => [r.runId, r.outcome, r.stateSaved]), [
    ['r1', 'interrupted', true], ['r2', 'interrupted', true], ['r3', 'error', false], ['r4', 'result', true], ['r5', 'interrupted', true], ['r6', 'interrupted', true]
  ])
})
