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

t.test('origins compare as browsers write them: case and default ports do not matter, in the default and in a list', async (t) => {
  const { app, url } = await startServer({ runner })
  t.after(() => app.close())
  t.equal(await attemptUpgrade(url, { origin: 'https://example.com', headers: { host: 'example.com:443' } }), 'open', 'Host with the default port of the scheme')
  t.equal(await attemptUpgrade(url, { origin: 'http://example.com', headers: { host: 'EXAMPLE.com' } }), 'open', 'Host in another case')
  t.match(await attemptUpgrade(url, { origin: 'https://example.com', headers: { host: 'example.com:80' } }), /^403 /, 'the default port of another scheme is another origin')
  const listed = await startServer({ runner, allowedOrigins: ['https://App.example.com:443'] })
  t.after(() => listed.app.close())
  t.equal(await attemptUpgrade(listed.url, { origin: 'https://app.example.com' }), 'open', 'a listed origin written with case and a default port still matches')
})
