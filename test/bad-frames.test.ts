import t, { type Test } from 'tap'
import WebSocket from 'ws'
import { startServer, Client } from './fixtures/server.js'
import { fastRunner, probe } from './fixtures/runners.js'
import { result } from './fixtures/events.js'
import type { ConnectionErrorFrame } from '../lib/index.js'

async function server (t: Test, opts = {}) {
  const { app, url } = await startServer({
    maxPayload: 1024,
    maxBadFrames: 5,
    runner: async function * (_req, ctx) {
      await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve))
      yield result()
    },
    ...opts
  })
  t.after(() => app.close())
  return { app, url }
}

t.test('frames that can be answered get an error frame with a stable code; the connection goes on', async (t) => {
  const { url } = await server(t)
  const c = await Client.connect(url)
  t.after(() => c.close())
  const cases: Array<[unknown, string, ConnectionErrorFrame['ref']?]> = [
    ['not json', 'AGS_BAD_JSON'],
    ['[1,2]', 'AGS_BAD_FRAME'],
    [{ type: 'launch' }, 'AGS_BAD_FRAME', { type: 'launch' }],
    [{ type: 'start' }, 'AGS_BAD_FRAME', { type: 'start' }],
    [{ type: 'start', task: 'x', runId: 'has space' }, 'AGS_BAD_FRAME', { type: 'start', runId: 'has space' }],
    [{ type: 'start', task: 'x', extra: 1 }, 'AGS_BAD_FRAME', { type: 'start' }],
    [{ type: 'cancel', runId: 'nope' }, 'AGS_UNKNOWN_RUN', { type: 'cancel', runId: 'nope' }]
  ]
  // maxBadFrames is 5 on this server: use a fresh connection per five.
  let conn = c
  for (const [i, [frame, code, ref]] of cases.entries()) {
    if (i === 5) {
      conn = await Client.connect(url)
      t.after(() => conn.close())
    }
    const before = conn.frames.length
    conn.send(frame)
    const frames = await conn.until((f) => f.length > before)
    const got = frames.at(-1) as ConnectionErrorFrame
    t.equal(got.type, 'error')
    t.equal(got.code, code, `${JSON.stringify(frame)} -> ${code}`)
    t.notOk('runId' in got, 'a connection-level error carries no runId')
    t.ok(got.message.length > 0)
    t.same(got.ref, ref)
  }
  const start = await Client.connect(url)
  t.after(() => start.close())
  start.send({ type: 'start', task: 'x', runId: 'again' })
  await start.until((f) => f.length === 1)
  start.send({ type: 'start', task: 'x', runId: 'again' })
  await start.until((f) => f.length === 2)
  t.equal((start.frames[1] as ConnectionErrorFrame).code, 'AGS_DUPLICATE_RUN_ID')
  start.send({ type: 'input', runId: 'again', requestId: 'none', content: 'x' })
  await start.until((f) => f.length === 3)
  t.same(start.frames[2], {
    type: 'error',
    code: 'AGS_UNKNOWN_REQUEST',
    message: 'Run "again" is not waiting for input "none"',
    ref: { type: 'input', runId: 'again', requestId: 'none' }
  })
  start.send({ type: 'input', runId: 'ghost', requestId: 'none', content: 'x' })
  await start.until((f) => f.length === 4)
  t.equal((start.frames[3] as ConnectionErrorFrame).code, 'AGS_UNKNOWN_RUN')
})

t.test('maxRunsPerConnection: the extra start is refused, the others run', async (t) => {
  const { url } = await server(t, { maxRunsPerConnection: 2 })
  const c = await Client.connect(url)
  t.after(() => c.close())
  for (const id of ['a', 'b', 'c']) c.send({ type: 'start', runId: id, task: 'x' })
  await c.until((f) => f.length === 3)
  t.same(c.frames.map((f) => f.type).sort(), ['error', 'started', 'started'])
  const refused = c.frames.find((f) => f.type === 'error') as ConnectionErrorFrame
  t.same([refused.code, refused.ref], ['AGS_TOO_MANY_RUNS', { type: 'start', runId: 'c' }])
  // Once one run is cancelled, a new one may start.
  c.send({ type: 'cancel', runId: 'a' })
  c.send({ type: 'start', runId: 'd', task: 'x' })
  await c.until(() => c.run('d').length === 1)
  t.equal(c.run('d')[0]?.type, 'started')
})

async function closeOf (t: Test, url: string, send: (ws: WebSocket) => void): Promise<{ code: number, reason: string, others: boolean }> {
  const p = probe()
  const victim = await Client.connect(url)
  const bystander = await Client.connect(url)
  t.after(() => bystander.close())
  victim.send({ type: 'start', runId: `v${Math.random()}`.replace('.', ''), task: 'x' })
  await victim.until((f) => f.length === 1)
  void p
  send(victim.ws)
  const closed = await victim.closed
  // The server and the other connection are unaffected.
  bystander.send({ type: 'start', runId: `b${Math.random()}`.replace('.', ''), task: 'x' })
  await bystander.until((f) => f.some((x) => x.type === 'started'))
  return { ...closed, others: bystander.ws.readyState === WebSocket.OPEN }
}

t.test('frames that end the connection close it with the fitting code', async (t) => {
  const { url, app } = await server(t)
  const binary = await closeOf(t, url, (ws) => ws.send(Buffer.from([1, 2, 3]), { binary: true }))
  t.same(binary, { code: 1003, reason: 'Binary frames are not supported; send JSON text frames', others: true })

  const big = await closeOf(t, url, (ws) => ws.send('x'.repeat(2000)))
  t.equal(big.code, 1009, 'oversized frame: 1009')
  t.ok(big.others)

  const utf8 = await closeOf(t, url, (ws) => {
    // A text frame holding invalid UTF-8, written by hand.
    const raw = (ws as unknown as { _socket: import('node:net').Socket })._socket
    const mask = Buffer.from([1, 2, 3, 4])
    const payload = Buffer.from([0xff, 0xfe, 0xfd])
    const masked = payload.map((b, i) => b ^ (mask[i % 4] as number))
    raw.write(Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]))
  })
  t.equal(utf8.code, 1007, 'invalid UTF-8: 1007')

  const spam = await closeOf(t, url, (ws) => { for (let i = 0; i < 10; i++) ws.send('nope') })
  t.same([spam.code, spam.reason], [1008, 'Too many invalid frames (6)'])

  // Runs of the closed connections were cancelled upstream and released.
  await new Promise((resolve) => setTimeout(resolve, 20))
  t.equal(app.autogenStream.connections, 4, 'only the four bystanders remain')
})

t.test('a run started on a connection that then sends garbage is cancelled with it', async (t) => {
  const p = probe()
  const { url } = await server(t, { runner: fastRunner(p, Infinity) })
  const c = await Client.connect(url)
  c.send({ type: 'start', runId: 'g', task: 'x' })
  await c.until((f) => f.length > 3)
  c.ws.send(Buffer.from([0]), { binary: true })
  const { code } = await c.closed
  t.equal(code, 1003)
  while (!p.returned) await new Promise((resolve) => setTimeout(resolve, 5))
  t.ok(p.aborted)
})
