import t from 'tap'
import { startServer, Client, seqProblems } from './fixtures/server.js'
import { chunk, result, text } from './fixtures/events.js'
import type { RunRequest, TokenFrame, EventFrame, ResultFrame } from '../lib/index.js'

t.test('one run: started, tokens, events verbatim, result; seqs from 0 without gaps', async (t) => {
  const seen: RunRequest[] = []
  const unknown = { type: 'SomeFutureEvent', source: 'x', payload: { nested: [1, 2, 3] } }
  const { app, url } = await startServer({
    runner: async function * (req) {
      seen.push(req)
      yield chunk('Hel', 'm1')
      yield chunk('lo ', 'm1')
      yield chunk('world', 'm1')
      yield text('Hello world', 'assistant', 'm1')
      yield unknown as never
      yield result([text('Hello world', 'assistant', 'm1')], 'done')
    }
  })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  c.send({ type: 'start', runId: 'r1', task: 'say hello', options: { temperature: 0 } })
  const frames = await c.untilEnded('r1')

  t.same(seen, [{ runId: 'r1', key: seen[0]?.key, task: 'say hello', options: { temperature: 0 } }])
  t.match(seen[0]?.key, /^[0-9a-f-]{36}$/, 'the server made the run key (a UUID), not the client')
  // The three chunks, yielded without a wait, were all in the log when the
  // sender wrote: they may go out merged (v2: a token frame stands for seqs
  // seq - chunks + 1 .. seq).
  t.same(seqProblems(frames), [], 'seqs 0..n-1, no gaps')
  t.equal(frames[0]?.type, 'started')
  const tokens = frames.filter((f): f is TokenFrame => f.type === 'token')
  t.equal(tokens.map((f) => f.text).join(''), 'Hello world', 'token text equals the chunks joined')
  t.equal(tokens.reduce((n, f) => n + f.chunks, 0), 3)
  t.ok(tokens.every((f) => f.full_message_id === 'm1' && f.source === 'assistant'))
  const events = frames.filter((f): f is EventFrame => f.type === 'event')
  t.same(events.map((e) => e.event.type), ['TextMessage', 'SomeFutureEvent'])
  t.same(events[1]?.event, unknown, 'an unknown type arrives untouched')
  const last = frames.at(-1) as ResultFrame
  t.equal(last.type, 'result')
  t.equal(last.result.stop_reason, 'done')
  t.equal(last.result.messages.length, 1)
  t.equal(frames.filter((f) => f.type === 'result').length, 1)

  t.equal(app.autogenStream.connections, 1)
  await c.until(() => app.autogenStream.runs === 0)
  t.equal(app.autogenStream.runs, 0, 'the finished run left the registry')
  const counters = app.autogenStream.counters
  t.equal(counters.runsStarted, 1)
  t.equal(counters.tokens, 3)
  t.equal(counters.frames, frames.length)
  t.ok(counters.bytes > 0)
  t.throws(() => { (counters as { frames: number }).frames = 0 }, 'counters are read-only')
})

t.test('several runs on one connection interleave, each with its own seq', async (t) => {
  const { app, url } = await startServer({
    maxRunsPerConnection: 3,
    runner: async function * (req) {
      const n = Number((req.options as { n: number }).n)
      for (let i = 0; i < n; i++) {
        yield chunk(`${req.runId}:${i};`, `${req.runId}-m`)
        // Let the other runs take turns.
        await new Promise((resolve) => setImmediate(resolve))
      }
      yield result([], `${req.runId} finished`)
    }
  })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  const runs = { a: 50, b: 30, c: 40 }
  for (const [runId, n] of Object.entries(runs)) c.send({ type: 'start', runId, task: 't', options: { n } })
  await c.until(() => Object.keys(runs).every((id) => c.run(id).some((f) => f.type === 'result')))

  for (const [runId, n] of Object.entries(runs)) {
    const frames = c.run(runId)
    t.same(frames.map((f) => f.seq), frames.map((_, i) => i), `${runId}: seq without gaps`)
    const expected = Array.from({ length: n }, (_, i) => `${runId}:${i};`).join('')
    t.equal(frames.filter((f): f is TokenFrame => f.type === 'token').map((f) => f.text).join(''), expected)
    t.equal((frames.at(-1) as ResultFrame).result.stop_reason, `${runId} finished`)
  }
  // Interleaved: some frame of run b arrives before the last frame of run a.
  const order = c.frames.map((f) => ('runId' in f ? f.runId : ''))
  t.ok(order.indexOf('b') < order.lastIndexOf('a'), 'runs are interleaved on the wire')
})

t.test('a start without runId gets a server-made one', async (t) => {
  const { app, url } = await startServer({ runner: async function * () { yield result() } })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  c.send({ type: 'start', task: [{ type: 'TextMessage', source: 'user', content: 'hi' }] })
  await c.until((f) => f.some((x) => x.type === 'result'))
  const started = c.frames[0] as { type: string, runId: string, seq: number }
  t.equal(started.type, 'started')
  t.match(started.runId, /^[0-9a-f-]{36}$/)
  t.same(c.run(started.runId).map((f) => f.type), ['started', 'result'])
})

t.test('human in the loop: input_request, input, the runner goes on', async (t) => {
  const { app, url } = await startServer({
    runner: async function * (_req, ctx) {
      const answer = await ctx.requestInput('Approve?', { requestId: 'q1' })
      yield text(`user said ${answer}`, 'user')
      yield result([], 'answered')
    }
  })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  c.send({ type: 'start', runId: 'h1', task: 'x' })
  const [, request] = await c.until((f) => f.some((x) => x.type === 'input_request'))
  t.same(request, { type: 'input_request', runId: 'h1', seq: 1, requestId: 'q1', prompt: 'Approve?' })
  c.send({ type: 'input', runId: 'h1', requestId: 'q1', content: 'APPROVE' })
  const frames = await c.untilEnded('h1')
  t.same(frames.map((f) => f.type), ['started', 'input_request', 'event', 'result'])
  t.equal(((frames[2] as EventFrame).event as { content?: unknown }).content, 'user said APPROVE')
})

t.test('a synchronous iterable works as a runner', async (t) => {
  const { app, url } = await startServer({
    runner: { run: () => [chunk('a', 'm'), chunk('b', 'm'), result([], 'sync')] }
  })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  c.send({ type: 'start', runId: 's', task: 'x' })
  const frames = await c.untilEnded('s')
  t.equal(frames.filter((f): f is TokenFrame => f.type === 'token').map((f) => f.text).join(''), 'ab')
  t.equal(frames.at(-1)?.type, 'result')
})

t.test('stop: the runner sees stopSignal and ends with a normal result', async (t) => {
  const { app, url } = await startServer({
    runner: async function * (_req, ctx) {
      let turn = 0
      while (!ctx.stopSignal.aborted) {
        yield text(`turn ${turn++}`)
        await new Promise((resolve) => setTimeout(resolve, 5))
      }
      yield result([], `stopped after ${turn} turns`)
    }
  })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  c.send({ type: 'start', runId: 'g', task: 'x' })
  await c.until(() => c.run('g').length >= 4)
  c.send({ type: 'stop', runId: 'g' })
  const frames = await c.untilEnded('g')
  const last = frames.at(-1) as ResultFrame
  t.equal(last.type, 'result')
  t.match(last.result.stop_reason, /^stopped after \d+ turns$/)
  c.send({ type: 'stop', runId: 'g' })
  await c.until((f) => f.at(-1)?.type === 'error' && !('runId' in (f.at(-1) as object)))
  t.equal((c.frames.at(-1) as { code: string }).code, 'AGS_UNKNOWN_RUN', 'stop for a finished run is refused')
})
