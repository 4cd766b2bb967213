import t from 'tap'
import WebSocket from 'ws'
import type { FastifyRequest } from 'fastify'
import { PROTOCOL, RunError, type Identity, type ResultFrame, type RunErrorFrame, type RunRequest, type RunContext, type AutoGenEvent } from '../lib/index.js'
import { startServer, Client, attemptUpgrade } from './fixtures/server.js'
import { examplesRunner } from './fixtures/python.js'
import { result, text } from './fixtures/events.js'

const users: Record<string, Identity> = { 'token-ann': { id: 'ann', plan: 'pro' }, 'token-bob': { id: 'bob', plan: 'free' } }

/** The token from any of the usual carriers: Authorization header, cookie, query string, or a subprotocol entry. */
function tokenOf (request: FastifyRequest): string | undefined {
  const auth = request.headers.authorization
  if (auth?.startsWith('Bearer ') === true) return auth.slice(7)
  const cookie = /(?:^|;\s*)session=([^;]+)/.exec(request.headers.cookie ?? '')?.[1]
  if (cookie !== undefined) return cookie
  const query = (request.query as { token?: string }).token
  if (query !== undefined) return query
  const protocols = String(request.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim())
  return protocols.find((p) => p.startsWith('token.'))?.slice(6)
}

async function authenticate (request: FastifyRequest): Promise<Identity | undefined> {
  const token = tokenOf(request)
  if (token === 'token-banned') throw Object.assign(new Error('banned'), { statusCode: 403 })
  return token === undefined ? undefined : users[token]
}

/** A runner that answers with who it runs for and the options it got. */
function whoAmI (seen: Array<{ identity: Identity, options: RunRequest['options'] }>) {
  return async function * (request: RunRequest, context: RunContext): AsyncGenerator<AutoGenEvent> {
    seen.push({ identity: context.identity, options: request.options })
    yield text(context.identity.id)
    yield result([], `ran for ${context.identity.id}`)
  }
}

t.test('no identity: HTTP 401 before any upgrade; a known but forbidden caller: 403; every usual carrier of a token works', async (t) => {
  const seen: Array<{ identity: Identity, options: RunRequest['options'] }> = []
  const { app, url } = await startServer({ runner: whoAmI(seen), authenticate })
  t.after(() => app.close())
  t.equal(await attemptUpgrade(url), '401 {"code":"AGS_UNAUTHENTICATED","message":"Authentication required"}')
  t.equal(await attemptUpgrade(url, { headers: { authorization: 'Bearer nope' } }), '401 {"code":"AGS_UNAUTHENTICATED","message":"Authentication required"}')
  t.equal(await attemptUpgrade(url, { headers: { authorization: 'Bearer token-banned' } }), '403 {"code":"AGS_FORBIDDEN","message":"Not allowed to connect"}')
  t.equal(app.autogenStream.counters.runsStarted, 0)

  const carriers: Array<[string, string, WebSocket.ClientOptions & { protocols?: string[] }]> = [
    ['Authorization header (non-browser clients)', url, { headers: { authorization: 'Bearer token-ann' } }],
    ['cookie', url, { headers: { cookie: 'theme=dark; session=token-ann' } }],
    ['query string', `${url}?token=token-ann`, {}],
    ['subprotocol entry (browsers cannot set headers)', url, { protocols: [PROTOCOL, 'token.token-ann'] }]
  ]
  for (const [carrier, where, options] of carriers) {
    const c = await Client.connect(where, options)
    t.equal(c.ws.protocol, PROTOCOL, `${carrier}: the server picks the protocol, not the token entry`)
    c.send({ type: 'start', runId: 'r', task: 'x' })
    t.equal(((await c.untilEnded('r')).at(-1) as ResultFrame).result.stop_reason, 'ran for ann', carrier)
    c.close()
  }
  t.same(seen.map((s) => s.identity), [users['token-ann'], users['token-ann'], users['token-ann'], users['token-ann']])
})

t.test('without authenticate every connection is anonymous, with an id of its own', async (t) => {
  const seen: Array<{ identity: Identity, options: RunRequest['options'] }> = []
  const { app, url } = await startServer({ runner: whoAmI(seen) })
  t.after(() => app.close())
  for (let i = 0; i < 2; i++) {
    const c = await Client.connect(url)
    c.send({ type: 'start', runId: 'a', task: 'x' })
    c.send({ type: 'start', runId: 'b', task: 'x' })
    await c.untilEnded('a')
    await c.untilEnded('b')
    c.close()
  }
  t.ok(seen.every((s) => s.identity.anonymous === true && /^anonymous:[0-9a-f-]{36}$/.test(s.identity.id)))
  t.equal(seen[0]?.identity.id, seen[1]?.identity.id, 'one identity per connection')
  t.not(seen[0]?.identity.id, seen[2]?.identity.id, 'another for the next connection')
})

t.test('authorizeRun rewrites options per identity and refuses runs with a clear error frame', async (t) => {
  const seen: Array<{ identity: Identity, options: RunRequest['options'] }> = []
  const { app, url } = await startServer({
    runner: whoAmI(seen),
    authenticate,
    authorizeRun: (identity, start) => {
      if (start.options.model === 'forbidden') throw new Error('no')
      if (start.options.model === 'quota') throw new RunError('QUOTA_EXCEEDED', 'No runs left this month')
      // Free users always get the small model, whatever they ask for.
      return identity.plan === 'free' ? { options: { ...start.options, model: 'small' } } : undefined
    }
  })
  t.after(() => app.close())
  const bob = await Client.connect(url, { headers: { authorization: 'Bearer token-bob' } })
  const ann = await Client.connect(url, { headers: { authorization: 'Bearer token-ann' } })
  t.after(() => { bob.close(); ann.close() })
  bob.send({ type: 'start', runId: 'r1', task: 'x', options: { model: 'huge' } })
  ann.send({ type: 'start', runId: 'r1', task: 'x', options: { model: 'huge' } })
  await bob.untilEnded('r1')
  await ann.untilEnded('r1')
  t.same(seen.map((s) => [s.identity.id, s.options.model]).sort(), [['ann', 'huge'], ['bob', 'small']])
  bob.send({ type: 'start', runId: 'r2', task: 'x', options: { model: 'forbidden' } })
  const refused = await bob.untilEnded('r2')
  t.same(refused.map((f) => f.type), ['started', 'error'])
  t.same([(refused[1] as RunErrorFrame).code, (refused[1] as RunErrorFrame).message], ['AGS_RUN_REFUSED', 'This run is not allowed'])
  bob.send({ type: 'start', runId: 'r3', task: 'x', options: { model: 'quota' } })
  const quota = (await bob.untilEnded('r3')).at(-1) as RunErrorFrame
  t.same([quota.code, quota.message], ['QUOTA_EXCEEDED', 'No runs left this month'], "a RunError's code and message reach the client")
  t.equal(seen.length, 2, 'refused runs never reached the runner')
})

t.test('the identity reaches the Python factory as request.identity', async (t) => {
  const runner = examplesRunner()
  const { app, url } = await startServer({ runner, authenticate })
  t.after(() => app.close())
  const c = await Client.connect(url, { headers: { authorization: 'Bearer token-ann' } })
  t.after(() => c.close())
  c.send({ type: 'start', runId: 'py', task: 'x', options: { test_factory: 'echo_identity' } })
  const last = (await c.untilEnded('py')).at(-1) as ResultFrame
  t.same(JSON.parse(String(last.result.messages[0]?.content)), { identity: { id: 'ann', plan: 'pro' }, options: { test_factory: 'echo_identity' } })
})

t.test('authorizeRun returning anything but nothing or { task?, options? } refuses the run, with the reason in the log', async (t) => {
  const seen: Array<{ identity: Identity, options: RunRequest['options'] }> = []
  const answers: unknown[] = [false, 'ok', { options: 'str' }, { task: 5 }]
  let i = 0
  const { app, url } = await startServer({ runner: whoAmI(seen), authorizeRun: () => answers[i++] as undefined })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  for (let n = 0; n < answers.length; n++) {
    c.send({ type: 'start', runId: `r${n}`, task: 'x' })
    t.equal(((await c.untilEnded(`r${n}`)).at(-1) as RunErrorFrame).code, 'AGS_RUN_REFUSED', JSON.stringify(answers[n]))
  }
  t.equal(seen.length, 0)
})
