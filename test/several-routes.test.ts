import t from 'tap'
import Fastify from 'fastify'
import websocket from '@fastify/websocket'
import autogenStream from '../lib/index.js'
import { Client, logCollector } from './fixtures/server.js'
import { result, text } from './fixtures/events.js'

function runner (word: string) {
  return async function * () { yield text(word); yield result([], word) }
}

async function listen (app: ReturnType<typeof Fastify>): Promise<string> {
  await app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('no address')
  return `ws://127.0.0.1:${address.port}`
}

t.test('two routes, each registered in its own encapsulated context, each with its runner and its own view', async (t) => {
  const app = Fastify()
  t.after(() => app.close())
  const views: Record<string, { connections: number }> = {}
  for (const name of ['alpha', 'beta']) {
    await app.register(async (child) => {
      await child.register(autogenStream, { runner: runner(name), path: `/${name}` })
      child.addHook('onReady', async () => { views[name] = child.autogenStream })
    })
  }
  const base = await listen(app)
  const a = await Client.connect(`${base}/alpha`)
  const b = await Client.connect(`${base}/beta`)
  const b2 = await Client.connect(`${base}/beta`)
  t.after(() => { a.close(); b.close(); b2.close() })
  a.send({ type: 'start', runId: 'r', task: 'x' })
  b.send({ type: 'start', runId: 'r', task: 'x' })
  const fa = await a.untilEnded('r')
  const fb = await b.untilEnded('r')
  t.same(fa.at(-1), { type: 'result', runId: 'r', seq: 2, result: { type: 'TaskResult', messages: [], stop_reason: 'alpha' } })
  t.same(fb.at(-1), { type: 'result', runId: 'r', seq: 2, result: { type: 'TaskResult', messages: [], stop_reason: 'beta' } })
  t.equal(views.alpha?.connections, 1, 'each view counts its own route')
  t.equal(views.beta?.connections, 2)
})

t.test('registering twice in one context fails with a message that says how to serve a second route', async (t) => {
  const app = Fastify()
  t.after(() => app.close())
  await app.register(autogenStream, { runner: runner('one'), path: '/one' })
  await t.rejects(async () => { await app.register(autogenStream, { runner: runner('two'), path: '/two' }).ready() }, {
    code: 'AGS_ALREADY_REGISTERED',
    message: /already registered in this context \(route \/one\); for another route, register it again inside an encapsulated plugin/
  })
})

t.test('when the app registered @fastify/websocket itself, the plugin\'s websocket options are ignored with a warning naming them', async (t) => {
  const logs = logCollector()
  const app = Fastify({ logger: { level: 'warn', stream: logs.stream } })
  t.after(() => app.close())
  await app.register(websocket)
  await app.register(autogenStream, { runner: runner('x'), websocket: { options: { maxPayload: 10 } } })
  await app.ready()
  const warning = logs.lines.find((l) => typeof l.msg === 'string' && l.msg.includes('"websocket" options are ignored'))
  t.same(warning?.ignored, ['options'])
})
