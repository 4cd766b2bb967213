import t, { type Test } from 'tap'
import WebSocket from 'ws'
import { startServer, Client, waitFor, seqProblems } from './fixtures/server.js'
import { fastRunner, probe } from './fixtures/runners.js'
import type { AutogenStreamOptions, ConnectionErrorFrame, RunContext, ServerFrame } from '../lib/index.js'

const MAX_BAD_FRAMES = 5

/** What the runner saw of each run, by runId, in the order the runs were started. */
type Seen = Map<string, { reason?: { code?: string, message?: string }, returned: boolean }>

async function server (t: Test, opts: Partial<AutogenStreamOptions> = {}) {
  const seen: Seen = new Map()
  const { app, url } = await startServer({
    maxPayload: 1024,
    maxBadFrames: MAX_BAD_FRAMES,
    // Every client here reads: the close handshake is answered at once, the
    // grace is never reached (a short one would race a loaded machine).
    closeGrace: 60_000,
    // A run that yields nothing and waits for its cancel.
    runner: async function * (req, ctx: RunContext) {
      const mine: { reason?: { code?: string, message?: string }, returned: boolean } = { returned: false }
      seen.set(req.runId, mine)
      try {
        await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve))
        mine.reason = ctx.signal.reason as { code?: string, message?: string }
      } finally {
        mine.returned = true
      }
    },
    ...opts
  })
  t.after(() => app.close())
  return { app, url, seen }
}

function started (runId: string): ServerFrame {
  return { type: 'started', runId, seq: 0 } as ServerFrame
}

/** Strips the message (checked to be non-empty): codes and refs are the stable part. */
function shape (f: ServerFrame | undefined): unknown {
  if (f === undefined || f.type !== 'error' || 'runId' in f) return f
  const { message, ...rest } = f as ConnectionErrorFrame
  return { ...rest, message: typeof message === 'string' && message.length > 0 }
}

function connError (code: string, ref?: ConnectionErrorFrame['ref']): unknown {
  return ref === undefined ? { type: 'error', code, message: true } : { type: 'error', code, message: true, ref }
}

/** Sends `frame` and waits for exactly one more frame; returns it. */
async function answer (c: Client, frame: unknown): Promise<ServerFrame | undefined> {
  const before = c.frames.length
  c.send(frame)
  await c.until((f) => f.length > before)
  return c.frames[before]
}

t.test('frames that can be answered get an error frame with a stable code; the connection goes on', async (t) => {
  const { url, seen } = await server(t)
  const cases: Array<[unknown, string, ConnectionErrorFrame['ref']?]> = [
    ['not json', 'AGS_BAD_JSON'],
    ['[1,2]', 'AGS_BAD_FRAME'],
    [{ type: 'launch' }, 'AGS_BAD_FRAME', { type: 'launch' }],
    [{ type: 'start' }, 'AGS_BAD_FRAME', { type: 'start' }],
    [{ type: 'start', task: 'x', runId: 'has space' }, 'AGS_BAD_FRAME', { type: 'start', runId: 'has space' }],
    [{ type: 'start', task: 'x', extra: 1 }, 'AGS_BAD_FRAME', { type: 'start' }],
    [{ type: 'cancel', runId: 'nope' }, 'AGS_UNKNOWN_RUN', { type: 'cancel', runId: 'nope' }]
  ]
  // maxBadFrames is 5 on this server: five cases on one connection (at the
  // limit, still open), the rest on a second one.
  const conns = [await Client.connect(url), await Client.connect(url)] as const
  for (const c of conns) t.after(() => c.close())
  for (const [i, [frame, code, ref]] of cases.entries()) {
    const conn = conns[i < MAX_BAD_FRAMES ? 0 : 1]
    t.same(shape(await answer(conn, frame)), connError(code, ref), `${JSON.stringify(frame)} -> ${code}`)
  }
  // A valid start after them is served: it is the next frame, so no run
  // frame of a refused start came before it (they go out in order).
  for (const [i, c] of conns.entries()) {
    t.same(await answer(c, { type: 'start', runId: `ok${i}`, task: 'x' }), started(`ok${i}`))
    t.equal(c.ws.readyState, WebSocket.OPEN)
  }
  t.same(conns[0].frames.map((f) => f.type), [...Array(MAX_BAD_FRAMES).fill('error'), 'started'])
  t.same(conns[1].frames.map((f) => f.type), ['error', 'error', 'started'])
  t.same([...seen.keys()], ['ok0', 'ok1'], 'no refused start reached the runner')

  const start = await Client.connect(url)
  t.after(() => start.close())
  t.same(await answer(start, { type: 'start', task: 'x', runId: 'again' }), started('again'))
  t.same(shape(await answer(start, { type: 'start', task: 'x', runId: 'again' })),
    connError('AGS_DUPLICATE_RUN_ID', { type: 'start', runId: 'again' }))
  t.same(await answer(start, { type: 'input', runId: 'again', requestId: 'none', content: 'x' }), {
    type: 'error',
    code: 'AGS_UNKNOWN_REQUEST',
    message: 'Run "again" is not waiting for input "none"',
    ref: { type: 'input', runId: 'again', requestId: 'none' }
  })
  const ghost = await answer(start, { type: 'input', runId: 'ghost', requestId: 'none', content: 'x' }) as ConnectionErrorFrame
  t.same([ghost.type, ghost.code, 'runId' in ghost], ['error', 'AGS_UNKNOWN_RUN', false])
  t.same(ghost.ref, { type: 'input', runId: 'ghost', requestId: 'none' }, 'ref repeats what the frame named')
  t.same(start.run('again'), [started('again')], 'the first "again" runs on, untouched')
  t.same([...seen.keys()], ['ok0', 'ok1', 'again'], 'the duplicate start reached no runner')
  t.equal(seen.get('again')?.reason, undefined)
})

t.test('maxRunsPerConnection: the extra start is refused, the others run', async (t) => {
  const { url, seen } = await server(t, { maxRunsPerConnection: 2 })
  const c = await Client.connect(url)
  t.after(() => c.close())
  for (const id of ['a', 'b', 'c']) c.send({ type: 'start', runId: id, task: 'x' })
  await c.until((f) => f.length === 3)
  // The refusal is written at once, the started frames by the sender: their order may vary.
  t.same(c.frames.map((f) => f.type).sort(), ['error', 'started', 'started'])
  t.same(c.run('a'), [started('a')])
  t.same(c.run('b'), [started('b')])
  t.same(c.run('c'), [], 'no run frame for the refused start')
  const refused = c.frames.find((f) => f.type === 'error') as ConnectionErrorFrame
  t.same(shape(refused), connError('AGS_TOO_MANY_RUNS', { type: 'start', runId: 'c' }))
  t.same([...seen.keys()], ['a', 'b'], 'the refused start reached no runner')

  // Once a run has ended (its terminal frame is out), a new one may start.
  c.send({ type: 'cancel', runId: 'a' })
  const a = await c.untilEnded('a')
  t.same(a, [started('a'), { type: 'cancelled', runId: 'a', seq: 1, reason: 'client' }])
  t.same(await answer(c, { type: 'start', runId: 'd', task: 'x' }), started('d'))
  await waitFor(() => seen.get('a')?.returned === true)
  t.equal(seen.get('a')?.reason?.message, 'The run was cancelled (client)')
  t.same([...seen.keys()], ['a', 'b', 'd'])
  t.same(c.run('b'), [started('b')], 'b runs on')
  t.equal(c.frames.length, 5, 'nothing else was sent')
})

t.test('frames that end the connection close it with the fitting code; other connections are unaffected', async (t) => {
  // onDisconnect 'cancel': the closed connection's run is cancelled upstream (with the default it would go on, detached: see below).
  const { url, app, seen } = await server(t, { onDisconnect: 'cancel' })
  // One bystander for the whole test, with a run that lives through all of it.
  const bystander = await Client.connect(url)
  t.after(() => bystander.close())
  t.same(await answer(bystander, { type: 'start', runId: 'steady', task: 'x' }), started('steady'))
  const served: string[] = []

  async function victim (name: string, send: (v: Client) => Promise<void> | void) {
    const known = new Set(app.websocketServer.clients)
    const v = await Client.connect(url)
    t.after(() => v.close())
    const serverSide = [...app.websocketServer.clients].find((ws) => !known.has(ws))
    const serverClosed = new Promise((resolve) => serverSide?.once('close', resolve))
    const runId = `v-${name}`
    t.same(await answer(v, { type: 'start', runId, task: 'x' }), started(runId))
    await send(v)
    const closed = await v.closed
    // The server lets go of the connection and cancels its run upstream.
    await serverClosed
    t.equal(app.autogenStream.connections, 1, `${name}: the server dropped the connection`)
    await waitFor(() => seen.get(runId)?.returned === true)
    t.equal(seen.get(runId)?.reason?.code, 'AGS_RUN_CANCELLED', `${name}: its run was cancelled upstream`)
    // The bystander is still served: a new run starts and ends on it.
    const b = `b-${name}`
    t.same(await answer(bystander, { type: 'start', runId: b, task: 'x' }), started(b), `${name}: the bystander is still served`)
    bystander.send({ type: 'cancel', runId: b })
    t.same(await bystander.untilEnded(b), [started(b), { type: 'cancelled', runId: b, seq: 1, reason: 'client' }])
    served.push(b)
    return { closed, frames: v.frames, reason: seen.get(runId)?.reason }
  }

  // Closes the server decides on: the run's cancelled frame, then the close frame.
  const binary = await victim('binary', (v) => { v.ws.send(Buffer.from([1, 2, 3]), { binary: true }) })
  t.same(binary.closed, { code: 1003, reason: 'Binary frames are not supported; send JSON text frames' })
  t.same(binary.frames, [started('v-binary'), { type: 'cancelled', runId: 'v-binary', seq: 1, reason: 'client' }])
  t.equal(binary.reason?.message, 'The run was cancelled (client)')

  // Closes ws makes itself, before any frame reaches the plugin: nothing more can be written.
  const big = await victim('big', (v) => { v.ws.send('x'.repeat(2000)) })
  t.equal(big.closed.code, 1009, 'oversized frame: 1009')
  t.same(big.frames, [started('v-big')])

  const utf8 = await victim('utf8', (v) => {
    // A text frame holding invalid UTF-8, written by hand.
    const raw = (v.ws as unknown as { _socket: import('node:net').Socket })._socket
    const mask = Buffer.from([1, 2, 3, 4])
    const payload = Buffer.from([0xff, 0xfe, 0xfd])
    const masked = payload.map((b, i) => b ^ (mask[i % 4] as number))
    raw.write(Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]))
  })
  t.equal(utf8.closed.code, 1007, 'invalid UTF-8: 1007')
  t.same(utf8.frames, [started('v-utf8')])

  // maxBadFrames bad frames are each answered and the connection stays;
  // the next one closes it with 1008, and nothing after it is answered.
  const bad: Array<[unknown, string]> = [
    ['nope', 'AGS_BAD_JSON'],
    ['[1]', 'AGS_BAD_FRAME'],
    [{ type: 'launch' }, 'AGS_BAD_FRAME'],
    [{ type: 'stop' }, 'AGS_BAD_FRAME'],
    ['{', 'AGS_BAD_JSON']
  ]
  const spam = await victim('spam', async (v) => {
    for (const [frame, code] of bad) {
      const got = await answer(v, frame) as ConnectionErrorFrame
      t.same([got.type, got.code, 'runId' in got], ['error', code, false], `${JSON.stringify(frame)} -> ${code}`)
      t.equal(v.ws.readyState, WebSocket.OPEN, 'still open')
    }
    for (let i = 0; i < 5; i++) v.send('nope')
  })
  t.same(spam.closed, { code: 1008, reason: `Too many invalid frames (${MAX_BAD_FRAMES + 1})` })
  t.same(spam.frames.map((f) => [f.type, 'code' in f ? f.code : ('reason' in f ? f.reason : undefined)]), [
    ['started', undefined],
    ...bad.map(([, code]) => ['error', code]),
    ['cancelled', 'client']
  ], 'five answers, then the run cancelled and the close; the frames after the sixth were not answered')
  t.same(spam.frames.at(-1), { type: 'cancelled', runId: 'v-spam', seq: 1, reason: 'client' })
  t.equal(spam.reason?.message, 'The run was cancelled (client)')

  // The bystander saw none of it.
  t.same(bystander.frames.filter((f) => !('runId' in f)), [], 'no connection error reached the bystander')
  t.same(bystander.run('steady'), [started('steady')], 'its long run goes on')
  t.equal(bystander.ws.readyState, WebSocket.OPEN)
  t.same(served, ['b-binary', 'b-big', 'b-utf8', 'b-spam'])
  t.equal(seen.get('steady')?.reason, undefined)
  t.equal(app.autogenStream.connections, 1, 'only the bystander remains')
  t.equal(app.autogenStream.runs, 1, 'only its run is left')
})

t.test('a run started on a connection that then sends garbage is cancelled with it (onDisconnect \'cancel\')', async (t) => {
  const p = probe()
  const { url } = await server(t, { runner: fastRunner(p, Infinity), onDisconnect: 'cancel' })
  const c = await Client.connect(url)
  c.send({ type: 'start', runId: 'g', task: 'x' })
  await c.until((f) => f.length > 3)
  c.ws.send(Buffer.from([0]), { binary: true })
  t.same(await c.closed, { code: 1003, reason: 'Binary frames are not supported; send JSON text frames' })
  const frames = c.run('g')
  // The closing connection writes its run's terminal frame after skipping
  // what it had not read yet: in v2 a seq gap before `cancelled` is intended.
  t.same(seqProblems(frames.slice(0, -1)), [], 'seq without gaps up to the terminal frame')
  t.equal(frames[0]?.type, 'started')
  t.ok(frames.slice(1, -1).every((f) => f.type === 'token'), 'tokens, up to the end')
  const last = frames.at(-1)
  t.same(last, { type: 'cancelled', runId: 'g', seq: last?.seq, reason: 'client' }, 'the reading client learns how its run ended')
  t.ok((last?.seq ?? -1) > (frames.at(-2)?.seq ?? Infinity), 'the terminal frame comes last, after every seq before it')
  t.equal(c.frames.length, frames.length, 'nothing but run frames')
  await waitFor(() => p.returned)
  t.ok(p.aborted)
  t.equal((p.signalReason as Error).message, 'The run was cancelled (client)')
})

t.test('with the default onDisconnect \'continue\', a connection closed for a bad frame leaves its run detached, not cancelled', async (t) => {
  const { url, app, seen } = await server(t)
  const c = await Client.connect(url)
  t.same(await answer(c, { type: 'start', runId: 'kept', task: 'x' }), started('kept'))
  c.ws.send(Buffer.from([0]), { binary: true })
  t.same(await c.closed, { code: 1003, reason: 'Binary frames are not supported; send JSON text frames' })
  await waitFor(() => app.autogenStream.connections === 0)
  t.same(c.frames, [started('kept')], 'no terminal frame: the run did not end')
  t.equal(app.autogenStream.runs, 1)
  t.equal(app.autogenStream.runsDetached, 1, 'the run goes on, detached')
  t.equal(seen.get('kept')?.reason, undefined, 'the runner was not aborted')
  t.equal(seen.get('kept')?.returned, false)
})
