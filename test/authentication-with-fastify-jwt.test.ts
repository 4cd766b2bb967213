import t from 'tap'
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import cookie from '@fastify/cookie'
import jwt from '@fastify/jwt'
import { PROTOCOL, type AuthorizeRun, type Identity, type ResultFrame, type RunContext, type RunRequest, type AutoGenEvent } from '../lib/index.js'
import { startServer, Client, attemptUpgrade } from './fixtures/server.js'
import { result } from './fixtures/events.js'

/*
 * The README's authentication example, for real: @fastify/cookie and
 * @fastify/jwt read a signed JWT from the `session` cookie a browser sends
 * with the upgrade; authenticate() turns its claims into the identity.
 */

const SECRET = 'a test secret, long enough for HS256 to be meaningful'

interface Claims { sub: string, plan: string }

/** The README's authenticate, typed. */
async function authenticate (request: FastifyRequest): Promise<Identity> {
  const { sub, plan } = await request.jwtVerify<Claims>() // throws: HTTP 401, no upgrade
  return { id: sub, plan }
}

/** The README's authorizeRun. */
const authorizeRun: AuthorizeRun = (identity, { options }) => identity.plan === 'free' ? { options: { ...options, model: 'small' } } : undefined

/** The README's set-up: the cookie parser, then @fastify/jwt reading the `session` cookie. */
async function jwtSetup (app: FastifyInstance): Promise<void> {
  await app.register(cookie)
  await app.register(jwt, { secret: SECRET, cookie: { cookieName: 'session', signed: false } })
}

type Seen = Array<{ identity: Identity, options: RunRequest['options'] }>

function recorder (seen: Seen) {
  return async function * (request: RunRequest, context: RunContext): AsyncGenerator<AutoGenEvent> {
    seen.push({ identity: context.identity, options: request.options })
    yield result([], `ran for ${context.identity.id}`)
  }
}

async function runOnce (c: Client, runId: string, options?: Record<string, unknown>): Promise<string | null> {
  c.send({ type: 'start', runId, task: 'x', ...(options === undefined ? {} : { options }) })
  return ((await c.untilEnded(runId)).at(-1) as ResultFrame).result.stop_reason
}

const UNAUTHENTICATED = '401 {"code":"AGS_UNAUTHENTICATED","message":"Authentication required"}'

t.test('a browser with a `session` cookie holding a signed JWT connects; its runs get { id: sub, plan }, and authorizeRun pins the free plan\'s model', async (t) => {
  const seen: Seen = []
  const { app, url } = await startServer({ runner: recorder(seen), authenticate, authorizeRun }, jwtSetup)
  t.after(() => app.close())
  const origin = `http://${new URL(url).host}` // the page's own origin, as a browser sends it
  const ann = app.jwt.sign({ sub: 'ann', plan: 'pro' }, { expiresIn: '1h' })
  const bob = app.jwt.sign({ sub: 'bob', plan: 'free' }, { expiresIn: '1h' })

  const annClient = await Client.connect(url, { headers: { origin, cookie: `theme=dark; session=${ann}` } })
  t.equal(await runOnce(annClient, 'r1', { model: 'huge' }), 'ran for ann')
  const bobClient = await Client.connect(url, { headers: { origin, cookie: `session=${bob}` } })
  t.equal(await runOnce(bobClient, 'r1', { model: 'huge' }), 'ran for bob')
  annClient.close()
  bobClient.close()

  t.strictSame(seen, [
    { identity: { id: 'ann', plan: 'pro' }, options: { model: 'huge' } },
    { identity: { id: 'bob', plan: 'free' }, options: { model: 'small' } }
  ], 'the identity is exactly { id: sub, plan }: no iat or exp; the free plan runs the small model')

  // @fastify/jwt reads an Authorization header first: the carrier of non-browser clients.
  const cli = await Client.connect(url, { headers: { authorization: `Bearer ${ann}` } })
  t.equal(await runOnce(cli, 'r1'), 'ran for ann')
  cli.close()
})

t.test('no cookie, a forged, tampered or expired token, or one without `sub`: HTTP 401 AGS_UNAUTHENTICATED before any upgrade; another site\'s page with a good cookie: 403 before authenticate', async (t) => {
  const seen: Seen = []
  let verified = 0
  const { app, url } = await startServer({
    runner: recorder(seen),
    authenticate: async (request) => { verified++; return await authenticate(request) }
  }, jwtSetup)
  t.after(() => app.close())
  const origin = `http://${new URL(url).host}`
  const past = Math.floor(Date.now() / 1000) - 120

  const other = Fastify()
  t.after(() => other.close())
  await other.register(jwt, { secret: 'another secret' })
  await other.ready()

  const good = app.jwt.sign({ sub: 'bob', plan: 'free' }, { expiresIn: '1h' })
  const [header, payload, signature] = good.split('.') as [string, string, string]
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>
  const tampered = [header, Buffer.from(JSON.stringify({ ...claims, plan: 'pro' })).toString('base64url'), signature].join('.')

  const cases: Array<[string, Record<string, string>]> = [
    ['no cookie', { origin }],
    ['another cookie only', { origin, cookie: 'theme=dark' }],
    ['not a JWT', { origin, cookie: 'session=hello' }],
    ['signed with another secret', { origin, cookie: `session=${other.jwt.sign({ sub: 'ann', plan: 'pro' })}` }],
    ['payload changed after signing (free to pro)', { origin, cookie: `session=${tampered}` }],
    ['expired', { origin, cookie: `session=${app.jwt.sign({ sub: 'ann', plan: 'pro', iat: past - 60, exp: past })}` }],
    ['valid, but no `sub` claim: no identity', { origin, cookie: `session=${app.jwt.sign({ plan: 'pro' }, { expiresIn: '1h' })}` }],
    ['a bad Authorization header wins over a good cookie', { origin, authorization: 'Bearer nope', cookie: `session=${good}` }]
  ]
  for (const [what, headers] of cases) t.equal(await attemptUpgrade(url, { headers }), UNAUTHENTICATED, what)
  t.equal(verified, cases.length)

  t.equal(await attemptUpgrade(url, { headers: { origin: 'https://evil.example', cookie: `session=${good}` } }),
    '403 {"code":"AGS_FORBIDDEN_ORIGIN","message":"Origin \\"https://evil.example\\" may not open this socket (allowedOrigins)"}',
    'the cookie rides along with any page\'s request; the Origin check stops it')
  t.equal(verified, cases.length, 'refused before authenticate ran')

  t.equal(app.autogenStream.connections, 0)
  t.equal(app.autogenStream.counters.runsStarted, 0)
  t.same(seen, [])
  t.equal(await attemptUpgrade(url, { headers: { origin, cookie: `session=${good}` } }), 'open', 'the good token itself connects')
})

t.test('a token in a subprotocol entry `token.<jwt>` next to autogen-stream.v2 (or v1), when authenticate reads that carrier too', async (t) => {
  const seen: Seen = []
  const { app, url } = await startServer({
    runner: recorder(seen),
    authenticate: async (request) => {
      const offered = String(request.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim())
      const token = offered.find((p) => p.startsWith('token.'))?.slice('token.'.length)
      if (token === undefined) return await authenticate(request)
      const { sub, plan } = request.server.jwt.verify<Claims>(token) // throws: HTTP 401
      return { id: sub, plan }
    }
  }, jwtSetup)
  t.after(() => app.close())
  const ann = app.jwt.sign({ sub: 'ann', plan: 'pro' }, { expiresIn: '1h' })

  const c = await Client.connect(url, { protocols: [PROTOCOL, `token.${ann}`] })
  t.equal(c.ws.protocol, PROTOCOL, 'the server picks the protocol; the token is never echoed')
  t.equal(await runOnce(c, 'r1'), 'ran for ann')
  c.close()
  t.strictSame(seen.map((s) => s.identity), [{ id: 'ann', plan: 'pro' }])

  const v1 = await Client.connect(url, { protocols: ['autogen-stream.v1', `token.${ann}`] })
  t.equal(v1.ws.protocol, 'autogen-stream.v1', 'next to the v1 entry (still served) the token works alike')
  t.equal(await runOnce(v1, 'r2'), 'ran for ann')
  v1.close()
  t.strictSame(seen.map((s) => s.identity), [{ id: 'ann', plan: 'pro' }, { id: 'ann', plan: 'pro' }])

  const bobSignature = app.jwt.sign({ sub: 'bob', plan: 'free' }, { expiresIn: '1h' }).split('.')[2] as string
  const forged = [...ann.split('.').slice(0, 2), bobSignature].join('.')
  t.equal(await attemptUpgrade(url, { protocols: [PROTOCOL, `token.${forged}`] }), UNAUTHENTICATED, 'a signature of another token')
  t.equal(await attemptUpgrade(url, { protocols: [PROTOCOL, 'token.'] }), UNAUTHENTICATED, 'an empty token')
  t.equal(await attemptUpgrade(url, { protocols: [`token.${ann}`] }),
    '400 {"code":"AGS_UNSUPPORTED_PROTOCOL","message":"None of the offered subprotocols (token.' + ann + ') is supported; use autogen-stream.v2"}',
    'the token alone is no protocol: refused before authenticate')
  t.equal(app.autogenStream.counters.runsStarted, 2)
})
