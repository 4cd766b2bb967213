import t from 'tap'
import type WebSocket from 'ws'
import { startServer, Client, waitFor } from './fixtures/server.js'
import type { RunContext } from '../lib/index.js'
import { result } from './fixtures/events.js'

/*
 * The interval is long enough that a client on a loaded machine answers a
 * ping well within the two intervals it has; nothing here measures time:
 * the test waits on pings, closes and counts.
 */
const PING_INTERVAL = 100
/** Pings the answering client must get while staying open: more than the two a silent peer survives. */
const ALIVE_PINGS = 5

/** Records, in order, the pings a client got and its close; wakes waiters on each. */
function heartbeatLog (ws: WebSocket) {
  const log: Array<'ping' | 'close'> = []
  const waiters: Array<() => void> = []
  const wake = (): void => { for (const w of waiters.splice(0)) w() }
  ws.on('ping', () => { log.push('ping'); wake() })
  ws.once('close', () => { log.push('close'); wake() })
  const pings = (): number => log.filter((e) => e === 'ping').length
  return {
    log,
    pings,
    /** Resolves once `n` pings arrived, or at the close. */
    async untilPings (n: number): Promise<void> {
      while (pings() < n && !log.includes('close')) await new Promise<void>((resolve) => waiters.push(resolve))
    }
  }
}

/** A server whose runs wait for their cancel, recording why they were cancelled. */
async function server (opts: { onDisconnect?: 'cancel' | 'continue' } = {}) {
  const runs = new Map<string, { reason: unknown, returned: boolean }>()
  const { app, url } = await startServer({
    pingInterval: PING_INTERVAL,
    ...opts,
    runner: async function * (req, ctx: RunContext) {
      const seen = { reason: undefined as unknown, returned: false }
      runs.set(req.runId, seen)
      try {
        await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve))
        seen.reason = ctx.signal.reason
        yield result()
      } finally {
        seen.returned = true
      }
    }
  })
  return { app, url, runs }
}

t.test('a peer that misses two pongs is terminated and its runs cancelled (onDisconnect \'cancel\'); a peer that answers stays', async (t) => {
  // Runs that wait for their cancel: the sockets carry nothing but the
  // started frames and the pings, so no ping waits behind queued frames.
  const { app, url, runs } = await server({ onDisconnect: 'cancel' })
  t.after(() => app.close())

  // autoPong off: this client receives pings and never answers. The logs
  // listen before the handshake ends: a first ping may come with the 101.
  const dead = new Client(url, { autoPong: false })
  const deadHb = heartbeatLog(dead.ws)
  await dead.opened
  dead.send({ type: 'start', runId: 'hb', task: 'x' })
  const alive = new Client(url)
  t.after(() => alive.close())
  const aliveHb = heartbeatLog(alive.ws)
  await alive.opened
  alive.send({ type: 'start', runId: 'live', task: 'x' })

  const { code, reason } = await dead.closed
  t.same([code, reason], [1006, ''], 'terminated without a close frame')
  const pings = deadHb.pings()
  t.ok(pings >= 2, `it was terminated after at least two unanswered pings (got ${pings})`)
  t.same(deadHb.log, [...Array(pings).fill('ping'), 'close'], 'the close came after those pings, nothing after it')
  t.same(dead.frames, [{ type: 'started', runId: 'hb', seq: 0 }], 'its run started; nothing else reached it')

  await waitFor(() => runs.get('hb')?.returned === true)
  const hb = runs.get('hb')?.reason as Error & { code?: string }
  t.same([hb.code, hb.message], ['AGS_RUN_CANCELLED', 'The run was cancelled (heartbeat)'], 'its run was cancelled upstream')
  await waitFor(() => app.autogenStream.connections < 2)
  t.equal(app.autogenStream.connections, 1, 'the server dropped the dead peer only')
  t.equal(app.autogenStream.runs, 1, "only the live client's run is left")

  // The peer that answers is pinged on every tick and never cut. A silent
  // peer gets two pings and is cut on the third tick: wait (on pings, or
  // its close) until this one has had ALIVE_PINGS.
  await aliveHb.untilPings(ALIVE_PINGS)
  t.same(aliveHb.log, Array(ALIVE_PINGS).fill('ping'), `the answering peer got ${ALIVE_PINGS} pings and is still connected`)
  t.equal(alive.ws.readyState, alive.ws.OPEN)
  t.equal(app.autogenStream.connections, 1)
  t.equal(runs.get('live')?.reason, undefined, 'its run was not cancelled')
  t.same(alive.frames, [{ type: 'started', runId: 'live', seq: 0 }])
})

t.test('with the default onDisconnect \'continue\', the terminated peer\'s run goes on, detached', async (t) => {
  const { app, url, runs } = await server()
  t.after(() => app.close())
  const dead = new Client(url, { autoPong: false })
  await dead.opened
  dead.send({ type: 'start', runId: 'hb', task: 'x' })
  await dead.until((f) => f.length > 0)
  t.same((await dead.closed).code, 1006, 'terminated')
  await waitFor(() => app.autogenStream.connections === 0)
  t.equal(app.autogenStream.runs, 1)
  t.equal(app.autogenStream.runsDetached, 1, 'its run is detached, not cancelled')
  t.same(runs.get('hb'), { reason: undefined, returned: false })
})
