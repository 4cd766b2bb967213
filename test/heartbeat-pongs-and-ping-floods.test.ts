import t from 'tap'
import { startServer, Client, waitFor } from './fixtures/server.js'
import { fastRunner, probe } from './fixtures/runners.js'

t.test('pongs that do not echo our ping do not count: a peer that sends only those is terminated', async (t) => {
  const p = probe()
  const { app, url } = await startServer({ pingInterval: 50, runner: fastRunner(p, 10) })
  t.after(() => app.close())
  const liar = await Client.connect(url, { autoPong: false })
  let pings = 0
  liar.ws.on('ping', () => {
    pings++
    // Answers every ping, but with something else than the ping's payload (unsolicited pongs).
    liar.ws.pong('not your ping')
  })
  const { code } = await liar.closed
  t.equal(code, 1006, 'terminated without a close frame')
  // The last ping may be lost in the reset; at least one was answered with a wrong payload.
  t.ok(pings >= 1, `it answered ${pings} pings, with pongs that echo none of them`)
  await waitFor(() => app.autogenStream.connections === 0)
})

t.test('a client that never reads and floods pings is cut; the server buffer does not grow with it; others go on', async (t) => {
  const p = probe()
  const { app, url } = await startServer({ runner: fastRunner(p, 200) })
  t.after(() => app.close())
  const other = await Client.connect(url)
  t.after(() => other.close())
  const flooder = await Client.connect(url)
  t.after(() => flooder.close())
  flooder.ws.pause()
  const payload = Buffer.alloc(125, 1)
  let sent = 0
  // Pings until the server cuts the connection (each would cost it a 127-byte pong).
  while (flooder.ws.readyState === flooder.ws.OPEN && sent < 2_000_000) {
    for (let i = 0; i < 1000; i++) flooder.ws.ping(payload)
    sent += 1000
    await new Promise((resolve) => setImmediate(resolve))
    if (app.autogenStream.connections < 2) break
  }
  await waitFor(() => app.autogenStream.connections === 1)
  t.ok(sent < 2_000_000, `cut after ${sent} pings`)
  t.comment(`the server cut the flooder after it sent ${sent} pings`)
  other.send({ type: 'start', runId: 'r', task: 'x' })
  t.equal((await other.untilEnded('r')).at(-1)?.type, 'result', 'the other client is served')
})
