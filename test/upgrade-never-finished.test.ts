import t from 'tap'
import { createServer, type RequestListener } from 'node:http'
import net from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify'
import autogenStream, { type AutogenStreamOptions } from '../lib/index.js'
import { Client } from './fixtures/server.js'
import { text, result } from './fixtures/events.js'

// Before the upgrade the socket is plain HTTP and Node's server governs it;
// the plugin's hooks run only once the request's headers are complete. These
// tests hold what each of Node's and Fastify's settings does to a client that
// never finishes the upgrade, and that none of them touches an open WebSocket.

async function serve (t: { after: (fn: () => unknown) => void }, fastifyOptions: FastifyServerOptions, opts: Partial<AutogenStreamOptions> = {}): Promise<{ app: FastifyInstance, port: number }> {
  const app = Fastify(fastifyOptions)
  // A run that stays quiet for longer than every timeout under test.
  await app.register(autogenStream, {
    runner: async function * (_request, { signal }) {
      await sleep(1500, undefined, { signal })
      yield text('after a quiet while')
      yield result()
    },
    ...opts
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.after(() => app.close())
  return { app, port: (app.server.address() as net.AddressInfo).port }
}

/** A raw TCP client: sends `first`, then whatever `trickle` returns every 100 ms, until the server closes. */
async function rawClient (port: number, first: string, trickle?: () => string): Promise<{ closedByServer: boolean, received: string }> {
  const socket = net.connect(port, '127.0.0.1')
  let received = ''
  let closedByServer = false
  let timer: NodeJS.Timeout | undefined
  socket.on('data', (d: Buffer) => { received += d.toString('latin1') })
  socket.on('end', () => { closedByServer = true })
  socket.on('error', () => {})
  socket.on('connect', () => {
    socket.write(first)
    if (trickle !== undefined) timer = setInterval(() => socket.write(trickle()), 100)
  })
  await new Promise((resolve) => socket.on('close', resolve))
  clearInterval(timer)
  return { closedByServer, received }
}

const partialUpgrade = 'GET /autogen HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n'

t.test("Fastify's connectionTimeout drops a client that opens TCP and sends nothing, or half an upgrade request; an open WebSocket that stays quiet longer is not touched", async (t) => {
  const { app, port } = await serve(t, { connectionTimeout: 500 })
  const c = await Client.connect(`ws://127.0.0.1:${port}/autogen`)
  t.after(() => c.close())
  c.send({ type: 'start', runId: 'quiet', task: 'x' })

  const [silent, half] = await Promise.all([rawClient(port, ''), rawClient(port, partialUpgrade)])
  t.same(silent, { closedByServer: true, received: '' }, 'nothing sent: dropped, without an answer')
  t.same(half, { closedByServer: true, received: '' }, 'half an upgrade: dropped, without an answer')
  t.equal(app.autogenStream.connections, 1, 'neither ever counted as a connection (the plugin\'s hooks never ran)')

  // ws turns the socket's timeout off once the upgrade is done.
  const frames = await c.untilEnded('quiet')
  t.equal(frames.at(-1)?.type, 'result', 'the WebSocket, quiet for three times connectionTimeout, was never cut')
  t.equal(c.ws.readyState, c.ws.OPEN)
})

t.test("a client that trickles its upgrade request (defeating an inactivity timeout) is answered 408 after Node's requestTimeout (Fastify's requestTimeout)", async (t) => {
  // Node checks requestTimeout every connectionsCheckingInterval (30 s by
  // default, which Fastify does not expose): a serverFactory sets it small here.
  const serverFactory = (handler: RequestListener) => createServer({ connectionsCheckingInterval: 100, requestTimeout: 1000 }, handler)
  const { port } = await serve(t, { serverFactory, requestTimeout: 1000, connectionTimeout: 500 })
  let n = 0
  const trickled = await rawClient(port, partialUpgrade, () => `X-Trickle-${n++}: 1\r\n`)
  t.ok(n >= 5, `it kept sending headers (${n}), so connectionTimeout never fired`)
  t.equal(trickled.closedByServer, true)
  t.match(trickled.received, /^HTTP\/1\.1 408 Request Timeout\r\n/, 'Node answers 408 and closes')
})
