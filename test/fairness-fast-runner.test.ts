import t from 'tap'
import { startServer, Client, waitFor } from './fixtures/server.js'
import { probe } from './fixtures/runners.js'
import { chunk } from './fixtures/events.js'
import type { AutoGenEvent, TokenFrame } from '../lib/index.js'

/*
 * A runner that never awaits anything resolves each next() as a microtask.
 * If the send path only ever woke itself with microtasks, the event loop would
 * never reach I/O again: no cancel frame would be read, no timer would fire,
 * no other connection would be served. These are exact checks of that.
 */
t.test('an infinitely fast runner does not starve cancel, timers or other connections', async (t) => {
  const p = probe()
  const { app, url } = await startServer({
    runner: async function * (req, ctx) {
      if (req.runId !== 'hog') {
        yield chunk('small', 'm')
        yield { type: 'TaskResult', messages: [], stop_reason: 'done' } as AutoGenEvent
        return
      }
      ctx.signal.addEventListener('abort', () => { p.aborted = true })
      try {
        for (;;) { p.pulled++; yield chunk('x', `m${p.pulled >> 10}`) }
      } finally { p.returned = true }
    }
  })
  t.after(() => app.close())
  const hog = await Client.connect(url)
  t.after(() => hog.close())
  hog.send({ type: 'start', runId: 'hog', task: 'x' })
  await hog.until(() => hog.run('hog').length > 100)

  let timerFired = false
  setTimeout(() => { timerFired = true }, 1)
  await waitFor(() => timerFired)
  t.ok(timerFired, 'a timer fires while the runner streams')

  const other = await Client.connect(url)
  t.after(() => other.close())
  other.send({ type: 'start', runId: 'other', task: 'x' })
  const frames = await other.untilEnded('other')
  t.same(frames.map((f) => f.type), ['started', 'token', 'result'], 'another connection is served meanwhile')

  hog.send({ type: 'cancel', runId: 'hog' })
  const hogFrames = await hog.untilEnded('hog')
  t.equal(hogFrames.at(-1)?.type, 'cancelled', 'the cancel frame was read and acted on')
  await waitFor(() => p.returned)
  t.ok(p.aborted && p.returned)
})

t.test('with the socket free, each chunk goes out at once in a frame of its own', async (t) => {
  // The runner yields the next chunk only after the client has seen the last one:
  // any timer or batching on the send path would show up as chunks > 1 or a hang.
  let seen = 0
  const waiters: Array<() => void> = []
  const { app, url } = await startServer({
    runner: async function * () {
      for (let i = 0; i < 50; i++) {
        yield chunk(`t${i} `, 'm')
        await new Promise<void>((resolve) => { if (seen > i) resolve(); else waiters.push(resolve) })
      }
      yield { type: 'TaskResult', messages: [], stop_reason: null } as AutoGenEvent
    }
  })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  c.ws.on('message', () => {
    seen = c.frames.filter((f) => f.type === 'token').length
    waiters.splice(0).forEach((w) => w())
  })
  c.send({ type: 'start', runId: 'free', task: 'x' })
  const frames = await c.untilEnded('free')
  const tokens = frames.filter((f): f is TokenFrame => f.type === 'token')
  t.equal(tokens.length, 50)
  t.ok(tokens.every((f, i) => f.chunks === 1 && f.text === `t${i} `))
})
