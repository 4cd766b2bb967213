import t from 'tap'
import Fastify, { type FastifyRequest } from 'fastify'
import rateLimit from '@fastify/rate-limit'
import WebSocket from 'ws'
import autogenStream, { PROTOCOL, type AutogenStreamOptions, type ResultFrame } from '../lib/index.js'
import { startServer, Client, waitFor } from './fixtures/server.js'
import { result } from './fixtures/events.js'

/*
 * @fastify/rate-limit limits how often a client may open the socket; the
 * plugin's own limits bound what an open socket may do. The limiter adds an
 * onRequest hook to routes registered after it (an onRoute hook), and the
 * upgrade request goes through Fastify's hooks before @fastify/websocket
 * upgrades it: a 429 is an HTTP answer, no WebSocket is made, and the
 * plugin's own checks (origin, authenticate) are not reached.
 */

const runner = async function * () { yield result([], 'done') }

/** Keyed by a header, so that a second key proves the limit is per key (in production: request.ip, or the user). */
const byClientHeader = (request: FastifyRequest): string => String(request.headers['x-client'] ?? request.ip)

/** An upgrade the server must refuse: its HTTP status, headers and body. Fails the test if it opens. */
async function refused (url: string, client: string): Promise<{ status: number | undefined, headers: Record<string, unknown>, body: string }> {
  const ws = new WebSocket(url, [PROTOCOL], { headers: { 'x-client': client } })
  return await new Promise((resolve, reject) => {
    ws.once('open', () => { ws.terminate(); reject(new Error(`the upgrade of ${client} was accepted`)) })
    ws.once('unexpected-response', (_req, res) => {
      let body = ''
      res.on('data', (d: Buffer) => { body += d.toString() })
      res.on('end', () => { ws.terminate(); resolve({ status: res.statusCode, headers: res.headers, body }) })
    })
    ws.once('error', reject)
  })
}

async function connect (url: string, client: string): Promise<Client> {
  return await Client.connect(url, { headers: { 'x-client': client } })
}

async function runOnce (c: Client, runId: string): Promise<string | null> {
  c.send({ type: 'start', runId, task: 'x' })
  return ((await c.untilEnded(runId)).at(-1) as ResultFrame).result.stop_reason
}

/** The limiter's own answer (its message; which other fields the body keeps is up to the route's response schema). */
const limiterMessage = (body: string): unknown => (JSON.parse(body) as { message?: unknown }).message
const tooMany = (after: string): string => `Rate limit exceeded, retry in ${after}`

t.test('global mode: past `max` upgrades of one key the limiter answers HTTP 429 before any upgrade, before authenticate; another key, and the same key after the window, connect', async (t) => {
  // The window ends when the limiter's clock says so (LocalStore reads
  // Date.now()): the test moves that clock instead of sleeping.
  const realNow = Date.now.bind(Date)
  let skew = 0
  t.capture(Date, 'now', () => realNow() + skew)

  const authenticated: string[] = []
  const { app, url } = await startServer({
    runner,
    authenticate: (request) => {
      authenticated.push(byClientHeader(request))
      return { id: byClientHeader(request) }
    }
  }, async (app) => {
    await app.register(rateLimit, { max: 3, timeWindow: 60_000, keyGenerator: byClientHeader })
  })
  t.after(() => app.close())

  const a = [await connect(url, 'a'), await connect(url, 'a'), await connect(url, 'a')]
  t.equal(app.autogenStream.connections, 3)

  const refusal = await refused(url, 'a')
  t.equal(refusal.status, 429)
  t.equal(limiterMessage(refusal.body), tooMany('1 minute'), refusal.body)
  t.match(refusal.headers, { 'x-ratelimit-limit': '3', 'x-ratelimit-remaining': '0', 'retry-after': '60' })
  t.equal(app.autogenStream.connections, 3, 'the refused upgrade made no connection')
  t.equal(app.autogenStream.counters.connections, 3)
  t.same(authenticated, ['a', 'a', 'a'], 'the limiter answered before authenticate() ran')

  // The limiter counts upgrades, not what an open socket does: a's sockets still run.
  t.equal(await runOnce(a[0] as Client, 'r1'), 'done')

  const b = await connect(url, 'b')
  t.equal(app.autogenStream.connections, 4, 'another key connects')
  t.equal(await runOnce(b, 'r1'), 'done')

  // It limits the rate of upgrades, not how many are open: closing a's
  // sockets does not give a its upgrades back (maxConnectionsPerIp bounds the open ones).
  for (const c of a) c.close()
  await waitFor(() => app.autogenStream.connections === 1)
  t.equal((await refused(url, 'a')).status, 429)
  t.equal(app.autogenStream.connections, 1)

  skew = 60_000
  const again = await connect(url, 'a')
  t.equal(app.autogenStream.connections, 2, 'after the window, the same key connects again')
  t.equal(await runOnce(again, 'r2'), 'done')
  again.close()
  b.close()
})

t.test('route config: the plugin\'s route takes no `config`, but an onRoute hook registered before the limiter gives it one (global: false)', async (t) => {
  // The plugin owns its route and refuses options it does not know.
  const bare = Fastify()
  t.after(() => bare.close())
  await t.rejects(async () => {
    await bare.register(autogenStream, { runner, config: { rateLimit: { max: 1 } } } as unknown as AutogenStreamOptions).ready()
  }, { code: 'AGS_INVALID_OPTION', message: /^Invalid option "config": unknown option/ })

  const { app, url } = await startServer({ runner }, async (app) => {
    // Before the limiter: onRoute hooks run in the order they were added.
    app.addHook('onRoute', (route) => {
      if (route.url === '/autogen' && route.method === 'GET') route.config = { ...route.config, rateLimit: { max: 2, timeWindow: '1 hour' } }
    })
    await app.register(rateLimit, { global: false, keyGenerator: byClientHeader })
    app.get('/health', async () => ({ ok: true }))
  })
  t.after(() => app.close())

  const open = [await connect(url, 'a'), await connect(url, 'a')]
  const refusal = await refused(url, 'a')
  t.equal(refusal.status, 429)
  t.equal(limiterMessage(refusal.body), tooMany('1 hour'), refusal.body)
  t.equal(app.autogenStream.connections, 2)
  const b = await connect(url, 'b')
  t.equal(app.autogenStream.connections, 3, 'another key connects')

  // global: false: the app's other routes are not limited.
  for (let i = 0; i < 5; i++) {
    const res = await app.inject({ url: '/health', headers: { 'x-client': 'a' } })
    t.equal(res.statusCode, 200)
  }
  for (const c of [...open, b]) c.close()
})

t.test('order matters: a limiter registered after the plugin never sees its route', async (t) => {
  const app = Fastify()
  t.after(() => app.close())
  await app.register(autogenStream, { runner })
  await app.register(rateLimit, { max: 1, timeWindow: '1 hour', keyGenerator: byClientHeader })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('no address')
  const url = `ws://127.0.0.1:${address.port}/autogen`
  const clients = [await connect(url, 'a'), await connect(url, 'a'), await connect(url, 'a')]
  t.equal(app.autogenStream.connections, 3, 'max: 1 did not apply')
  for (const c of clients) c.close()
})
