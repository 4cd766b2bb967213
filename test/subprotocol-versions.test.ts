import t from 'tap'
import WebSocket from 'ws'
import { startServer, Client } from './fixtures/server.js'
import { result } from './fixtures/events.js'
import { PROTOCOL } from '../lib/index.js'

t.test('subprotocol negotiation', async (t) => {
  const { app, url } = await startServer({ runner: async function * () { yield result() } })
  t.after(() => app.close())

  const versioned = await Client.connect(url, { protocols: ['autogen-stream.v0', PROTOCOL] })
  t.after(() => versioned.close())
  t.equal(versioned.ws.protocol, 'autogen-stream.v1', 'the supported version is chosen among those offered')

  const none = await Client.connect(url, { protocols: [] })
  t.after(() => none.close())
  t.equal(none.ws.protocol, '', 'a client that offers none is served the current version')
  none.send({ type: 'start', runId: 'p', task: 'x' })
  await none.untilEnded('p')
  t.same(none.run('p').map((f) => f.type), ['started', 'result'])

  const refused = new WebSocket(url, ['autogen-stream.v9', 'graphql-ws'])
  const response = await new Promise<{ status: number, body: string }>((resolve) => {
    refused.on('unexpected-response', (_req, res) => {
      let body = ''
      res.on('data', (d: Buffer) => { body += d.toString() })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
    })
  })
  t.equal(response.status, 400)
  t.same(JSON.parse(response.body), {
    code: 'AGS_UNSUPPORTED_PROTOCOL',
    message: 'None of the offered subprotocols (autogen-stream.v9, graphql-ws) is supported; use autogen-stream.v1'
  })
})
