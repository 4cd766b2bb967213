import { connect } from 'node:net'
import t from 'tap'
import { startServer } from './fixtures/server.js'

/*
 * An app hook registered before the plugin (a rate limit, an auth check)
 * answers an upgrade request in onRequest. @fastify/websocket's own hooks
 * never ran for it, and it would leave the socket open: the server then
 * never finishes closing. The socket must end right after the answer.
 */

t.test('a 503 from an earlier onRequest hook: the answer, then the socket ends, and the app closes', async (t) => {
  const { app, url } = await startServer({ runner: async function * () {} }, (app) => {
    app.addHook('onRequest', async (request, reply) => {
      if (request.headers.upgrade !== undefined) await reply.code(503).send({ code: 'APP_FULL', message: 'full' })
    })
  })
  const { port } = new URL(url)
  const socket = connect(Number(port), '127.0.0.1')
  let received = ''
  socket.on('data', (d: Buffer) => { received += d.toString() })
  socket.write([
    'GET /autogen HTTP/1.1', `Host: 127.0.0.1:${port}`, 'Connection: Upgrade', 'Upgrade: websocket',
    'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', '', ''
  ].join('\r\n'))
  await new Promise((resolve) => socket.once('close', resolve))
  t.match(received, /^HTTP\/1\.1 503 /, 'the hook\'s answer')
  t.match(received, /"APP_FULL"/)
  await app.close()
  t.pass('the app closed')
})
