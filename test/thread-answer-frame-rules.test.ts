import t from 'tap'
import { Client, startServer } from './fixtures/server.js'
import { askingRunner } from './fixtures/runners.js'
import type { ServerFrame } from '../lib/index.js'

// A start carries a task or an answer, never both; an answer belongs to a
// thread, and threads are v2's: a v1 connection can neither answer nor
// read a thread's run, so it never gets an `interrupted` frame.

/** Sends frame and returns the next frame received. */
async function next (c: Client, frame: unknown): Promise<ServerFrame | undefined> {
  const before = c.frames.length
  c.send(frame)
  await c.until((all) => all.length > before)
  return c.frames[before]
}

const badFrame = (reason: string, ref: Record<string, string>): ServerFrame => ({ type: 'error', code: 'AGS_BAD_FRAME', message: `Invalid frame: ${reason}`, ref })

t.test('a start with an answer: checked before anything runs', async (t) => {
  const { app, url } = await startServer({ runner: askingRunner(), holdInputFor: 0, maxTaskBytes: 16 })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())

  t.same(await next(c, { type: 'start', runId: 'a' }), badFrame('start: missing field "task"', { type: 'start', runId: 'a' }))
  t.same(await next(c, { type: 'start', runId: 'b', threadId: 't', task: 'x', answer: { requestId: 'q0', content: 'Ann' } }),
    badFrame('start: "task" and "answer" together; an answer is the task of the run it starts', { type: 'start', runId: 'b', threadId: 't' }))
  t.same(await next(c, { type: 'start', runId: 'c', answer: { requestId: 'q0', content: 'Ann' } }),
    badFrame('start: "answer" needs the "threadId" of the interrupted run', { type: 'start', runId: 'c' }))
  t.same(await next(c, { type: 'start', runId: 'd', threadId: 't', answer: { requestId: 'q0', content: 'Ann', source: 'me' } }),
    badFrame('start: unknown field "source"', { type: 'start', runId: 'd', threadId: 't' }))
  t.same(await next(c, { type: 'start', runId: 'e', threadId: 't', answer: { requestId: '', content: 'Ann' } }),
    badFrame('start: /answer/requestId: must not have fewer than 1 characters', { type: 'start', runId: 'e', threadId: 't' }))
  // An answer is the task of the run it starts: maxTaskBytes bounds it (JSON bytes: 16 characters and two quotes).
  t.same(await next(c, { type: 'start', runId: 'f', threadId: 't', answer: { requestId: 'q0', content: 'x'.repeat(16) } }), {
    type: 'error', code: 'AGS_TASK_TOO_LARGE', message: 'The task is 18 bytes; at most 16 (maxTaskBytes)', ref: { type: 'start', runId: 'f' }
  })
  t.equal(c.run('a').length + c.run('f').length, 0, 'no run started')
})

t.test('v1: no threads, so no answers and no interrupted frames', async (t) => {
  const { app, url } = await startServer({ runner: askingRunner(), holdInputFor: 0 })
  t.after(() => app.close())
  const v1 = await Client.connect(url, { protocols: ['autogen-stream.v1'] })
  t.after(() => v1.close())
  t.same(await next(v1, { type: 'start', runId: 'a', threadId: 't', answer: { requestId: 'q0', content: 'Ann' } }),
    badFrame('start: threadId needs autogen-stream.v2', { type: 'start', runId: 'a', threadId: 't' }))
  t.same(await next(v1, { type: 'start', runId: 'b', answer: { requestId: 'q0', content: 'Ann' } }),
    badFrame('start: "answer" needs the "threadId" of the interrupted run', { type: 'start', runId: 'b' }))
  // Its runs have no thread: they wait for their input, holdInputFor 0 or not.
  v1.send({ type: 'start', runId: 'c', task: 'hi' })
  await v1.until(() => v1.run('c').some((f) => f.type === 'input_request'))
  v1.send({ type: 'input', runId: 'c', requestId: 'q0', content: 'Ann' })
  const frames = await v1.untilEnded('c')
  t.same(frames.map((f) => f.type), ['started', 'event', 'input_request', 'event', 'result'])
})
