import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { startServer, Client, logCollector, seqProblems } from './fixtures/server.js'
import { chunk, result } from './fixtures/events.js'
import { examplesRunner } from './fixtures/python.js'
import type { AutoGenEvent, InputRequestFrame, RunContext, TokenFrame } from '../lib/index.js'

t.test('the event loop blocked for a second by an app handler, three times, while healthy clients stream with pingInterval 50: none is closed for missed pongs, every run completes whole', async (t) => {
  const pingInterval = 50
  const state = { finish: false }
  // A chunk every 5 ms until the test is done blocking, then a result: the
  // runs stream across every block.
  const runner = async function * (_request: unknown, { signal }: RunContext): AsyncGenerator<AutoGenEvent> {
    let i = 0
    while (!state.finish) {
      yield chunk(`${i++} `, 'm1')
      await sleep(5, undefined, { signal })
    }
    yield result([], `done after ${i}`)
  }
  const logs = logCollector()
  const { app, url } = await startServer({ runner, pingInterval }, (app) => {
    // The fault: a handler that holds the loop for a second.
    app.get('/block', async () => {
      const until = Date.now() + 1000
      while (Date.now() < until) { /* the app's synchronous work */ }
      return 'blocked'
    })
  }, logs.stream)
  t.after(() => app.close())
  const clients = await Promise.all([1, 2, 3].map(async () => await Client.connect(url)))
  t.after(() => { for (const c of clients) c.close() })
  clients.forEach((c, i) => c.send({ type: 'start', runId: `r${i}`, task: 'x' }))

  for (let block = 0; block < 3; block++) {
    // Pings go out and pongs come back before each block (more tokens arrive meanwhile).
    const before = clients.map((c) => c.frames.length)
    await Promise.all(clients.map(async (c, i) => await c.until(() => c.frames.length > (before[i] as number) + 10)))
    const res = await app.inject({ method: 'GET', url: '/block' })
    t.equal(res.body, 'blocked', `block ${block + 1}: the loop was held for a second`)
  }
  state.finish = true

  for (const [i, c] of clients.entries()) {
    const frames = await c.untilEnded(`r${i}`)
    t.equal(frames.at(-1)?.type, 'result', `client ${i}: its run completed`)
    t.same(seqProblems(frames), [], `client ${i}: no gap`)
    const text = frames.filter((f): f is TokenFrame & { runId: string, seq: number } => f.type === 'token').map((f) => f.text).join('')
    const count = Number(/done after (\d+)/.exec(JSON.stringify(frames.at(-1)))?.[1])
    t.equal(text, Array.from({ length: count }, (_, n) => `${n} `).join(''), `client ${i}: all ${count} tokens, in order`)
    t.equal(c.ws.readyState, c.ws.OPEN, `client ${i}: still open`)
  }
  t.equal(app.autogenStream.connections, 3)
  t.notOk(logs.lines.some((l) => typeof l.msg === 'string' && l.msg.includes('missed')), 'no heartbeat timeout logged')
})

t.test('the event loop blocked for longer than the Python workers\' heartbeatTimeout: their answers wait in the pipe and are read before they are judged; no worker is killed', async (t) => {
  const runner = examplesRunner({ workers: 2, heartbeatInterval: 100, heartbeatTimeout: 1000 })
  const logs = logCollector()
  const { app, url } = await startServer({ runner }, (app) => {
    app.get('/block', async () => {
      const until = Date.now() + 1500
      while (Date.now() < until) { /* the app's synchronous work */ }
      return 'blocked'
    })
  }, logs.stream)
  t.after(() => app.close())
  await runner.ready()
  const pids = runner.pids
  const c = await Client.connect(url)
  t.after(() => c.close())
  c.send({ type: 'start', runId: 'hil', task: 'Plan my week', options: { example: 'user_proxy_team' } })
  await c.until(() => c.run('hil').some((f) => f.type === 'input_request'))

  for (let block = 0; block < 3; block++) {
    // A heartbeat answered between blocks, so each block starts with one in flight or just answered.
    const stats = await runner.stats()
    t.equal(stats.filter((s) => s !== null).length, 2, `block ${block + 1}: both workers answer`)
    t.equal((await app.inject({ method: 'GET', url: '/block' })).body, 'blocked')
  }
  const ask = c.run('hil').find((f): f is InputRequestFrame & { runId: string, seq: number } => f.type === 'input_request') as InputRequestFrame
  c.send({ type: 'input', runId: 'hil', requestId: ask.requestId, content: 'APPROVE' })
  t.equal((await c.untilEnded('hil')).at(-1)?.type, 'result', 'the run that waited across the blocks completes')
  t.same(runner.pids, pids, 'the same workers')
  t.notOk(logs.lines.some((l) => typeof l.msg === 'string' && l.msg.includes('(heartbeatTimeout)')), 'no worker taken for frozen')
})
