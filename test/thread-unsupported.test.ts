import t from 'tap'
import { startServer, Client } from './fixtures/server.js'
import { historyRunner } from './fixtures/runners.js'
import { refusal } from './fixtures/threads.js'
import { result } from './fixtures/events.js'
import type { RunDirectory, RunsFactory } from '../lib/directory.js'

t.test('a runner that does not keep threads (no threads: true): a start with a threadId is refused, AGS_THREAD_UNSUPPORTED', async (t) => {
  const { app, url } = await startServer({ runner: async function * () { yield result() } })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  c.send({ type: 'start', runId: 'r1', threadId: 'chat', task: 'x' })
  t.same(await refusal(c, 'r1'), {
    type: 'error',
    code: 'AGS_THREAD_UNSUPPORTED',
    message: 'Threads are not supported here: the runner does not keep thread state (a runner object with threads: true does, such as pythonRunner)',
    ref: { type: 'start', runId: 'r1', threadId: 'chat' }
  })
  c.send({ type: 'start', runId: 'r2', task: 'x' })
  t.equal((await c.untilEnded('r2')).at(-1)?.type, 'result', 'runs without a thread go on')
})

t.test('a store that keeps no threads: start, thread and delete_thread get AGS_THREAD_UNSUPPORTED before the store is asked', async (t) => {
  // A custom directory without `threads`.
  const asked: string[] = []
  const directory: RunDirectory = {
    start: () => { asked.push('start'); throw new Error('not asked') },
    find: () => undefined,
    list: () => [],
    figures: () => ({ active: 0, attached: 0, detached: 0, queued: 0, retained: 0, logBytes: 0, threads: 0 }),
    shutdown: () => {},
    clear: () => {}
  }
  const runs: RunsFactory = { kind: 'no-threads', create: () => directory }
  const { app, url } = await startServer({ runs })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  const message = 'Threads are not supported here: this run store keeps no threads'
  c.send({ type: 'start', runId: 'r1', threadId: 'chat', task: 'x' })
  t.same(await refusal(c, 'r1'), { type: 'error', code: 'AGS_THREAD_UNSUPPORTED', message, ref: { type: 'start', runId: 'r1', threadId: 'chat' } })
  c.send({ type: 'thread', threadId: 'chat' })
  c.send({ type: 'delete_thread', threadId: 'chat' })
  const frames = await c.until((all) => all.length >= 3)
  t.same(frames.slice(1), [
    { type: 'error', code: 'AGS_THREAD_UNSUPPORTED', message, ref: { type: 'thread', threadId: 'chat' } },
    { type: 'error', code: 'AGS_THREAD_UNSUPPORTED', message, ref: { type: 'delete_thread', threadId: 'chat' } }
  ])
  t.same(asked, [])
})

t.test('threads are v2: a v1 start with a threadId is a bad frame, and v1 has no thread frames', async (t) => {
  const { app, url } = await startServer({ runner: historyRunner() })
  t.after(() => app.close())
  const c = await Client.connect(url, { protocols: ['autogen-stream.v1'] })
  t.after(() => c.close())
  c.send({ type: 'start', runId: 'r1', threadId: 'chat', task: 'x' })
  t.same(await refusal(c, 'r1'), { type: 'error', code: 'AGS_BAD_FRAME', message: 'Invalid frame: start: threadId needs autogen-stream.v2', ref: { type: 'start', runId: 'r1', threadId: 'chat' } })
  c.send({ type: 'thread', threadId: 'chat' })
  const [, bad] = await c.until((all) => all.length >= 2)
  t.equal(bad?.type === 'error' && bad.code, 'AGS_BAD_FRAME')
})

t.test('a threadId is bounded like a runId', async (t) => {
  const { app, url } = await startServer({ runner: historyRunner() })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  c.send({ type: 'start', runId: 'r1', threadId: 'x'.repeat(129), task: 'x' })
  c.send({ type: 'thread', threadId: '' })
  c.send({ type: 'delete_thread', threadId: 'a b' })
  const frames = await c.until((all) => all.length >= 3)
  t.same(frames.map((f) => f.type === 'error' && f.code), ['AGS_BAD_FRAME', 'AGS_BAD_FRAME', 'AGS_BAD_FRAME'])
  t.match(frames[0], { message: /threadId/ })
})
