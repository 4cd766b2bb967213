import t from 'tap'
import { startServer, Client, waitFor } from './fixtures/server.js'
import { fastRunner, probe } from './fixtures/runners.js'
import { result, text } from './fixtures/events.js'
import type { RunErrorFrame, EventFrame } from '../lib/index.js'

t.test('idleTimeout closes a connection with no run, 1000', async (t) => {
  const { app, url } = await startServer({ idleTimeout: 100, runner: async function * () { yield result() } })
  t.after(() => app.close())
  const c = await Client.connect(url)
  c.send({ type: 'start', runId: 'a', task: 'x' })
  await c.untilEnded('a')
  const closed = await c.closed
  t.same(closed, { code: 1000, reason: 'No run for 100 ms' })
})

t.test('idleTimeout does not close a connection with a run in progress', async (t) => {
  const p = probe()
  const { app, url } = await startServer({
    idleTimeout: 50,
    runner: async function * (req, ctx) {
      await new Promise((resolve) => setTimeout(resolve, 200))
      yield * fastRunner(p, 10)(req, ctx)
    }
  })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  c.send({ type: 'start', runId: 'a', task: 'x' })
  const frames = await c.untilEnded('a')
  t.equal(frames.at(-1)?.type, 'result')
})

t.test('runTimeout ends the run with AGS_RUN_TIMEOUT and aborts the runner', async (t) => {
  const p = probe()
  const { app, url } = await startServer({
    runTimeout: 100,
    runner: async function * (_req, ctx) {
      ctx.signal.addEventListener('abort', () => { p.aborted = true })
      yield text('working')
      await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve))
      yield result()
    }
  })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  c.send({ type: 'start', runId: 'slow', task: 'x' })
  const frames = await c.untilEnded('slow')
  const last = frames.at(-1) as RunErrorFrame
  t.same([last.type, last.code, last.message], ['error', 'AGS_RUN_TIMEOUT', 'The run exceeded runTimeout (100 ms)'])
  t.ok(p.aborted)
})

t.test('inputTimeout rejects requestInput; the runner decides what follows', async (t) => {
  const { app, url } = await startServer({
    inputTimeout: 50,
    runner: async function * (_req, ctx) {
      try {
        await ctx.requestInput('anyone?')
      } catch (err) {
        yield text(`gave up: ${(err as { code: string }).code}`)
      }
      yield result([], 'no input')
    }
  })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  c.send({ type: 'start', runId: 'i', task: 'x' })
  const frames = await c.untilEnded('i')
  t.same(frames.map((f) => f.type), ['started', 'input_request', 'event', 'result'])
  t.equal(((frames[2] as EventFrame).event as { content?: unknown }).content, 'gave up: AGS_INPUT_TIMEOUT')
})

t.test('cancel while the runner waits for input rejects the input promise', async (t) => {
  let rejection: unknown
  const { app, url } = await startServer({
    runner: async function * (_req, ctx) {
      try { await ctx.requestInput('q') } catch (err) { rejection = err }
      yield result()
    }
  })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  c.send({ type: 'start', runId: 'i', task: 'x' })
  await c.until(() => c.run('i').some((f) => f.type === 'input_request'))
  c.send({ type: 'cancel', runId: 'i' })
  t.equal((await c.untilEnded('i')).at(-1)?.type, 'cancelled')
  await waitFor(() => rejection !== undefined)
  t.equal((rejection as { code: string }).code, 'AGS_RUN_CANCELLED')
})
