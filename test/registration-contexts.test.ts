import t from 'tap'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import autogenStream from '../lib/index.js'
import { Client } from './fixtures/server.js'
import { result, text } from './fixtures/events.js'

const runner = async function * () { yield text('hi'); yield result([], 'ok') }

async function listen (app: ReturnType<typeof Fastify>): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('no address')
  return `ws://127.0.0.1:${address.port}`
}

t.test('inside an encapsulated context under a prefix, beside plain routes', async (t) => {
  const app = Fastify()
  t.after(() => app.close())
  app.get('/health', async () => ({ ok: true }))
  await app.register(async (api) => {
    await api.register(autogenStream, { runner, path: '/stream' })
    t.ok(api.hasDecorator('autogenStream'), 'the decorator is visible in the context that registered it')
  }, { prefix: '/api/v1' })
  const base = await listen(app)
  const c = await Client.connect(`${base}/api/v1/stream`)
  t.after(() => c.close())
  c.send({ type: 'start', runId: 'x', task: 'y' })
  const frames = await c.untilEnded('x')
  t.same(frames.map((f) => f.type), ['started', 'event', 'result'])
  t.same((await app.inject('/health')).json(), { ok: true })
})

t.test('an app that already has @fastify/websocket keeps it, and its own routes work', async (t) => {
  const app = Fastify()
  t.after(() => app.close())
  await app.register(websocket)
  app.get('/echo', { websocket: true }, (socket) => { socket.on('message', (m) => socket.send(m.toString())) })
  await app.register(autogenStream, { runner })
  const base = await listen(app)
  const c = await Client.connect(`${base}/autogen`)
  t.after(() => c.close())
  c.send({ type: 'start', runId: 'x', task: 'y' })
  t.equal((await c.untilEnded('x')).at(-1)?.type, 'result')

  const echo = await Client.connect(`${base}/echo`, { protocols: [] })
  t.after(() => echo.close())
  echo.send({ hello: 'there' })
  await echo.until((f) => f.length === 1)
  t.same(echo.frames[0], { hello: 'there' })
})

t.test('the protocol over injectWS, no listening socket', async (t) => {
  const app = Fastify()
  t.after(() => app.close())
  await app.register(autogenStream, { runner })
  await app.ready()
  const ws = await app.injectWS('/autogen')
  const frames: Array<{ type: string }> = []
  const done = new Promise<void>((resolve) => {
    ws.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as { type: string }
      frames.push(frame)
      if (frame.type === 'result') resolve()
    })
  })
  ws.send(JSON.stringify({ type: 'start', runId: 'inj', task: 'x' }))
  await done
  t.same(frames.map((f) => f.type), ['started', 'event', 'result'])
  ws.terminate()
})
