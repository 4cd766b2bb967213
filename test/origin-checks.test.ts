import t from 'tap'
import Fastify from 'fastify'
import autogenStream, { type AutogenStreamOptions } from '../lib/index.js'
import { startServer, attemptUpgrade } from './fixtures/server.js'
import { result } from './fixtures/events.js'

const runner = async function * () { yield result() }

/** Opens a socket with this Origin (or none): 'open', or the HTTP refusal with its JSON body. */
async function attempt (url: string, origin?: string): Promise<string> {
  return await attemptUpgrade(url, origin === undefined ? {} : { origin })
}

t.test('default: no Origin (not a browser) and the same origin connect; a page of another site gets 403 before any upgrade', async (t) => {
  const { app, url } = await startServer({ runner })
  t.after(() => app.close())
  const host = new URL(url).host
  t.equal(await attempt(url), 'open')
  t.equal(await attempt(url, `http://${host}`), 'open')
  t.equal(await attempt(url, 'https://evil.example'), '403 {"code":"AGS_FORBIDDEN_ORIGIN","message":"Origin \\"https://evil.example\\" may not open this socket (allowedOrigins)"}')
  t.equal(await attempt(url, `http://${host.replace(/:\d+$/, ':1')}`), '403 {"code":"AGS_FORBIDDEN_ORIGIN","message":"Origin \\"http://127.0.0.1:1\\" may not open this socket (allowedOrigins)"}', 'another port is another origin')
  t.equal(await attempt(url, 'null'), '403 {"code":"AGS_FORBIDDEN_ORIGIN","message":"Origin \\"null\\" may not open this socket (allowedOrigins)"}', 'an opaque origin (sandboxed page, file:) is refused')
})

t.test('a list replaces the default: exactly those origins', async (t) => {
  const { app, url } = await startServer({ runner, allowedOrigins: ['https://app.example'] })
  t.after(() => app.close())
  t.equal(await attempt(url, 'https://app.example'), 'open')
  t.match(await attempt(url, `http://${new URL(url).host}`), /^403 /)
  t.equal(await attempt(url), 'open', 'non-browser clients still connect')
})

t.test('a function decides, and sees the request', async (t) => {
  const seen: string[] = []
  const { app, url } = await startServer({
    runner,
    allowedOrigins: (origin, request) => { seen.push(request.url); return origin.endsWith('.trusted.example') }
  })
  t.after(() => app.close())
  t.equal(await attempt(url, 'https://a.trusted.example'), 'open')
  t.match(await attempt(url, 'https://trusted.example.evil'), /^403 /)
  t.same(seen, ['/autogen', '/autogen'])
})

t.test('allowedOrigins must be a function or a list of origins', async (t) => {
  for (const bad of ['https://x.example', ['https://x.example/path'], [3]]) {
    const app = Fastify()
    t.after(() => app.close())
    await t.rejects(async () => { await app.register(autogenStream, { runner, allowedOrigins: bad } as unknown as AutogenStreamOptions).ready() }, { code: 'AGS_INVALID_OPTION', message: /^Invalid option "allowedOrigins"/ })
  }
})
