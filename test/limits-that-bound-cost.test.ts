import t from 'tap'
import { Agent, get } from 'node:http'
import WebSocket from 'ws'
import { PROTOCOL, type AutoGenEvent, type ConnectionErrorFrame, type RunContext, type RunRequest } from '../lib/index.js'
import { startServer, Client, attemptUpgrade, waitFor } from './fixtures/server.js'
import { result } from './fixtures/events.js'

const quick = async function * () { yield result([], 'done') }

t.test('maxConnections: HTTP 503 before the upgrade; maxConnectionsPerIp: HTTP 429, and a slot is free again once a connection closes', async (t) => {
  const { app, url } = await startServer({ runner: quick, maxConnections: 2 })
  t.after(() => app.close())
  const a = await Client.connect(url)
  const b = await Client.connect(url)
  t.equal(await attemptUpgrade(url), '503 {"code":"AGS_TOO_MANY_CONNECTIONS","message":"The server has 2 connections (maxConnections)"}')
  a.close()
  b.close()
  await waitFor(() => app.autogenStream.connections === 0)

  const perIp = await startServer({ runner: quick, maxConnectionsPerIp: 1 })
  t.after(() => perIp.app.close())
  const c = await Client.connect(perIp.url)
  t.equal(await attemptUpgrade(perIp.url), '429 {"code":"AGS_TOO_MANY_CONNECTIONS_FROM_IP","message":"This address has 1 connections (maxConnectionsPerIp)"}')
  c.close()
  await waitFor(() => perIp.app.autogenStream.connections === 0)
  t.equal(await attemptUpgrade(perIp.url), 'open')
})

t.test('frames beyond frameRate and frameBurst get AGS_RATE_LIMITED, count as bad frames, and end in a 1008 close', async (t) => {
  const { app, url } = await startServer({ runner: quick, frameRate: 1, frameBurst: 3, maxBadFrames: 4 })
  t.after(() => app.close())
  const c = await Client.connect(url)
  for (let i = 0; i < 6; i++) c.send({ type: 'cancel', runId: `x${i}` })
  const { code, reason } = await c.closed
  t.same(c.frames.map((f) => (f as ConnectionErrorFrame).code), ['AGS_UNKNOWN_RUN', 'AGS_UNKNOWN_RUN', 'AGS_UNKNOWN_RUN', 'AGS_RATE_LIMITED'])
  t.equal((c.frames[3] as ConnectionErrorFrame).message, 'Too many frames: at most 1 a second, 3 at once (frameRate, frameBurst)')
  t.same([code, reason], [1008, 'Too many invalid frames (5)'])
})

t.test('maxActiveRuns: a run beyond the slots waits with a queued frame and starts, in order, when one frees; beyond the queue, AGS_BUSY', async (t) => {
  const releases = new Map<string, () => void>()
  const started: string[] = []
  const runner = async function * (request: RunRequest, context: RunContext): AsyncGenerator<AutoGenEvent> {
    started.push(request.runId)
    await new Promise<void>((resolve) => {
      releases.set(request.runId, resolve)
      context.signal.addEventListener('abort', () => resolve(), { once: true })
    })
    yield result([], request.runId)
  }
  const { app, url } = await startServer({ runner, maxActiveRuns: 1, maxQueuedRuns: 2 })
  t.after(() => app.close())
  const a = await Client.connect(url)
  const b = await Client.connect(url)
  const c = await Client.connect(url)
  t.after(() => { a.close(); b.close(); c.close() })
  a.send({ type: 'start', runId: 'first', task: 'x' })
  await waitFor(() => started.length === 1)
  b.send({ type: 'start', runId: 'second', task: 'x' })
  await b.until(() => b.run('second').length === 2)
  c.send({ type: 'start', runId: 'third', task: 'x' })
  await c.until(() => c.run('third').length === 2)
  c.send({ type: 'start', runId: 'fourth', task: 'x' })
  await c.until((f) => f.some((x) => x.type === 'error' && !('seq' in x)))
  t.same(b.run('second'), [{ type: 'started', runId: 'second', seq: 0 }, { type: 'queued', runId: 'second', seq: 1, position: 1 }])
  t.same(c.run('third'), [{ type: 'started', runId: 'third', seq: 0 }, { type: 'queued', runId: 'third', seq: 1, position: 2 }])
  t.same(c.frames.filter((f) => !('seq' in f)), [{
    type: 'error',
    code: 'AGS_BUSY',
    message: 'The server is busy: 1 runs active and 2 queued (maxActiveRuns, maxQueuedRuns); try again later',
    ref: { type: 'start', runId: 'fourth' }
  }])
  t.same(started, ['first'], 'queued runs have not reached the runner')

  // The third is cancelled while it waits: it leaves the queue.
  c.send({ type: 'cancel', runId: 'third' })
  t.equal((await c.untilEnded('third')).at(-1)?.type, 'cancelled')
  releases.get('first')?.()
  t.equal((await a.untilEnded('first')).at(-1)?.type, 'result')
  await waitFor(() => started.length === 2)
  t.same(started, ['first', 'second'], 'the next in line started; the cancelled one never did')
  releases.get('second')?.()
  t.same((await b.untilEnded('second')).map((f) => f.type), ['started', 'queued', 'result'])
})

t.test('maxRunsPerIdentity counts an identity\'s runs over all its connections; maxTaskBytes bounds the task', async (t) => {
  const hold = async function * (_r: RunRequest, context: RunContext): AsyncGenerator<AutoGenEvent> {
    await new Promise((resolve) => context.signal.addEventListener('abort', resolve, { once: true }))
    yield result()
  }
  const { app, url } = await startServer({ runner: hold, authenticate: () => ({ id: 'same-user' }), maxRunsPerIdentity: 1, maxTaskBytes: 100 })
  t.after(() => app.close())
  const a = await Client.connect(url)
  const b = await Client.connect(url)
  t.after(() => { a.close(); b.close() })
  a.send({ type: 'start', runId: 'r', task: 'x' })
  await a.until(() => a.run('r').length === 1)
  b.send({ type: 'start', runId: 'r', task: 'x' })
  b.send({ type: 'start', runId: 'big', task: 'y'.repeat(200) })
  await b.until((f) => f.length === 2)
  t.same(b.frames, [
    { type: 'error', code: 'AGS_TOO_MANY_RUNS_FOR_IDENTITY', message: 'This identity already has 1 active runs (maxRunsPerIdentity)', ref: { type: 'start', runId: 'r' } },
    { type: 'error', code: 'AGS_TASK_TOO_LARGE', message: 'The task is 202 bytes; at most 100 (maxTaskBytes)', ref: { type: 'start', runId: 'big' } }
  ])
  a.send({ type: 'cancel', runId: 'r' })
  await a.untilEnded('r')
  b.send({ type: 'start', runId: 'r', task: 'x' })
  await b.until(() => b.run('r').length === 1)
  t.same(b.run('r'), [{ type: 'started', runId: 'r', seq: 0 }], 'the identity\'s slot was free again')
})

t.test('concurrent upgrades cannot all pass the connection limits: a slot is taken at the check, before a slow authenticate', async (t) => {
  const { app, url } = await startServer({
    runner: quick,
    maxConnections: 3,
    maxConnectionsPerIp: 2,
    authenticate: async () => { await new Promise((resolve) => setImmediate(resolve)); return { id: 'u' } }
  })
  t.after(() => app.close())
  // All ten at once, and the ones that open stay open until every one has its answer.
  const sockets = Array.from({ length: 10 }, () => new WebSocket(url, [PROTOCOL]))
  const outcomes = await Promise.all(sockets.map(async (ws) => await new Promise<string>((resolve) => {
    ws.once('open', () => resolve('open'))
    ws.once('unexpected-response', (_req, res) => { resolve(String(res.statusCode)); ws.terminate() })
    ws.once('error', (err) => resolve(`error ${err.message}`))
  })))
  t.same(outcomes.filter((o) => o === 'open').length, 2, 'exactly maxConnectionsPerIp opened')
  t.same(outcomes.filter((o) => o === '429').length, 8)
  for (const ws of sockets) ws.close()
  await waitFor(() => app.autogenStream.connections === 0)
  t.equal(await attemptUpgrade(url), 'open', 'the slots came back when the sockets closed')
})

t.test('plain GET requests to the route take no connection slot, even many on one keep-alive socket', async (t) => {
  const { app, url } = await startServer({ runner: quick, maxConnectionsPerIp: 2 })
  t.after(() => app.close())
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  t.after(() => agent.destroy())
  const statuses: number[] = []
  for (let i = 0; i < 5; i++) {
    statuses.push(await new Promise<number>((resolve, reject) => {
      get(`http://${new URL(url).host}/autogen`, { agent }, (res) => {
        res.resume()
        res.on('end', () => resolve(res.statusCode ?? 0))
      }).on('error', reject)
    }))
  }
  t.same(statuses, [404, 404, 404, 404, 404])
  t.equal(await attemptUpgrade(url), 'open', 'a WebSocket client still gets a slot')
})

t.test('runTimeout counts from when the run gets its slot, not from when it was queued', async (t) => {
  const runner = async function * (request: RunRequest, context: RunContext): AsyncGenerator<AutoGenEvent> {
    await new Promise((resolve) => { const timer = setTimeout(resolve, 150); context.signal.addEventListener('abort', () => { clearTimeout(timer); resolve(undefined) }) })
    yield result([], request.runId)
  }
  const { app, url } = await startServer({ runner, maxActiveRuns: 1, runTimeout: 60_000 })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  for (const id of ['a', 'b', 'c']) c.send({ type: 'start', runId: id, task: 'x' })
  for (const id of ['a', 'b', 'c']) t.equal((await c.untilEnded(id)).at(-1)?.type, 'result', `${id} ran to its result`)
})

t.test('a cancelled run keeps its server slot while its runner is still working (awaiting something that ignores the signal)', async (t) => {
  let finishWork: () => void = () => {}
  let bodies = 0
  const stubborn = async function * (request: RunRequest): AsyncGenerator<AutoGenEvent> {
    bodies++
    if (request.runId === 'a') await new Promise<void>((resolve) => { finishWork = resolve }) // ignores context.signal
    yield result([], request.runId)
  }
  const { app, url } = await startServer({ runner: stubborn, maxActiveRuns: 1, maxQueuedRuns: 0 })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  c.send({ type: 'start', runId: 'a', task: 'x' })
  await waitFor(() => bodies === 1)
  c.send({ type: 'cancel', runId: 'a' })
  t.equal((await c.untilEnded('a')).at(-1)?.type, 'cancelled', 'the client is told at once')
  c.send({ type: 'start', runId: 'b', task: 'x' })
  await c.until((f) => f.some((x) => !('seq' in x)))
  t.same(c.frames.filter((f) => !('seq' in f)).map((f) => (f as ConnectionErrorFrame).code), ['AGS_BUSY'], 'the slot is still taken: the runner is still at work')
  finishWork()
  await waitFor(() => app.autogenStream.runs === 0)
  c.send({ type: 'start', runId: 'c', task: 'x' })
  t.equal((await c.untilEnded('c')).at(-1)?.type, 'result', 'once it returned, the slot is free')
  t.equal(bodies, 2, 'b never reached the runner')
})
