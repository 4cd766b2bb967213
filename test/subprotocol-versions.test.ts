import t from 'tap'
import WebSocket from 'ws'
import { startServer, Client, seqProblems } from './fixtures/server.js'
import { result } from './fixtures/events.js'
import { fastRunner, probe } from './fixtures/runners.js'
import { PROTOCOL, type TokenFrame } from '../lib/index.js'

const V1 = 'autogen-stream.v1'

t.test('subprotocol negotiation', async (t) => {
  const { app, url } = await startServer({ runner: async function * () { yield result() } })
  t.after(() => app.close())
  t.equal(PROTOCOL, 'autogen-stream.v2', 'the current version')

  const versioned = await Client.connect(url, { protocols: ['autogen-stream.v0', PROTOCOL] })
  t.after(() => versioned.close())
  t.equal(versioned.ws.protocol, 'autogen-stream.v2', 'the supported version is chosen among those offered')

  const both = await Client.connect(url, { protocols: [V1, PROTOCOL] })
  t.after(() => both.close())
  t.equal(both.ws.protocol, PROTOCOL, 'the newest version wins when both are offered, whatever the order')

  const none = await Client.connect(url, { protocols: [] })
  t.after(() => none.close())
  t.equal(none.ws.protocol, '', 'a client that offers none is served the current version')
  none.send({ type: 'start', runId: 'p', task: 'x' })
  await none.untilEnded('p')
  t.same(none.run('p').map((f) => f.type), ['started', 'result'])
  t.ok(none.tokens.has('p'), 'served v2: its started frame carries a resume token')

  const v1 = await Client.connect(url, { protocols: [V1] })
  t.after(() => v1.close())
  t.equal(v1.ws.protocol, V1, 'v1 is still served when it is the only version offered')
  v1.send({ type: 'start', runId: 'q', task: 'x' })
  await v1.untilEnded('q')
  t.same(v1.run('q'), [{ type: 'started', runId: 'q', seq: 0 }, { type: 'result', runId: 'q', seq: 1, result: result() }])
  t.equal(v1.tokens.size, 0, 'no resume token in v1')

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
    message: 'None of the offered subprotocols (autogen-stream.v9, graphql-ws) is supported; use autogen-stream.v2'
  })
})

t.test('a v1 client cannot attach, detach or list: those frames are unknown in v1', async (t) => {
  const { app, url } = await startServer({ runner: async function * () { yield result() } })
  t.after(() => app.close())
  const v1 = await Client.connect(url, { protocols: [V1] })
  t.after(() => v1.close())
  v1.send({ type: 'start', runId: 'r', task: 'x' })
  await v1.untilEnded('r')
  const expected = 'Invalid frame: unknown frame type "%s" in autogen-stream.v1; expected "start", "cancel", "stop" or "input"'
  v1.send({ type: 'attach', runId: 'r', after: -1 })
  v1.send({ type: 'detach', runId: 'r' })
  v1.send({ type: 'list' })
  await v1.until((fs) => fs.filter((f) => f.type === 'error').length === 3)
  t.same(v1.frames.filter((f) => !('seq' in f)), [
    { type: 'error', code: 'AGS_BAD_FRAME', message: expected.replace('%s', 'attach'), ref: { type: 'attach', runId: 'r' } },
    { type: 'error', code: 'AGS_BAD_FRAME', message: expected.replace('%s', 'detach'), ref: { type: 'detach', runId: 'r' } },
    { type: 'error', code: 'AGS_BAD_FRAME', message: expected.replace('%s', 'list'), ref: { type: 'list' } }
  ])
  t.equal(v1.run('r').length, 2, 'the run was not sent again')

  // The same attach on v2, from the same identity (anonymous: one per connection) with the token, is served.
  const v2 = await Client.connect(url)
  t.after(() => v2.close())
  v2.send({ type: 'start', runId: 's', task: 'x' })
  await v2.untilEnded('s')
  v2.send({ type: 'attach', runId: 's', after: -1 })
  await v2.until((fs) => fs.some((f) => f.type === 'attached'))
  t.match(v2.frames.find((f) => f.type === 'attached'), { type: 'attached', runId: 's', after: -1, lastSeq: 1, ended: true })
})

t.test('a v1 client gets one seq per frame, also when chunks are merged; v2 counts one seq per chunk', async (t) => {
  const TOTAL = 3000
  const { app, url } = await startServer({
    // A tiny send buffer: the socket is congested at once, so chunks that wait are merged.
    maxBufferedBytes: 1024,
    stallTimeout: 0,
    runner: fastRunner(probe(), TOTAL, 32, TOTAL)
  })
  t.after(() => app.close())
  for (const version of [V1, PROTOCOL] as const) {
    const c = await Client.connect(url, { protocols: [version] })
    t.after(() => c.close())
    c.send({ type: 'start', runId: 'flood', task: 'x' })
    const frames = await c.untilEnded('flood')
    const tokens = frames.filter((f): f is TokenFrame & { runId: string, seq: number } => f.type === 'token')
    t.equal(tokens.reduce((n, f) => n + f.chunks, 0), TOTAL, `${version}: every chunk delivered once`)
    t.ok(tokens.length < TOTAL, `${version}: chunks were merged (${TOTAL} chunks in ${tokens.length} frames)`)
    if (version === V1) {
      t.same(frames.map((f) => f.seq), frames.map((_, i) => i), 'v1: one seq per frame, from 0, without gaps')
      t.same(seqProblems(frames, 'v1'), [])
      t.not(seqProblems(frames, 'v2').length, 0, 'v1 numbering is not v2 numbering once chunks are merged')
    } else {
      t.same(seqProblems(frames), [], 'v2: a merged frame covers seq - chunks + 1 .. seq')
      t.equal(frames.at(-1)?.seq, TOTAL + 1, 'v2: started, one seq per chunk, then the result')
    }
  }
})
