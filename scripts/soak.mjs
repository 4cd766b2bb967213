#!/usr/bin/env node
// The soak (issue 15): many simulated users doing what real users do, for a
// bounded time, through the Python bridge and the default replay team
// (autogen_stream_bridge.demo:create_team, the team of `npm start`), then
// leak checks. `npm run soak` builds and sets up Python first.
//
//   npm run soak                       # 180 s in-process (+ 180 s through Redis when redis-server is there);
//                                      # writes benchmarks/results/soak.json and docs/reliability.md
//   npm run soak -- --quick            # CI (.ci/run): under 2 minutes in all; writes to a temp dir unless --out
//   options: --seconds=N (per mode)  --seed=S  --clients=N  --redis | --no-redis  --out=DIR  --delay-ms=N
//
// Everything runs in this one process (the Fastify server, its Python
// workers as children, and the users' WebSockets), so that the leak checks
// (listeners, handles, file descriptors, heap) read the server's own
// figures; the users are closed before the final figures are taken. Exit
// code 1 when a check fails; the seed is printed so the run can be replayed
// (the users' choices replay exactly; timings do not).
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { cpus, tmpdir, totalmem } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { randomInt } from 'node:crypto'
import { getHeapSpaceStatistics, writeHeapSnapshot } from 'node:v8'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..')

// --expose-gc: heap figures are taken after a full collection. Re-run this
// file with it when `node scripts/soak.mjs` was called without.
if (typeof globalThis.gc !== 'function') {
  const res = spawnSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), ...process.argv.slice(2)], { stdio: 'inherit' })
  process.exit(res.status ?? 1)
}

const { values: argv } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    seconds: { type: 'string' },
    seed: { type: 'string' },
    clients: { type: 'string' },
    redis: { type: 'boolean' },
    'no-redis': { type: 'boolean' },
    out: { type: 'string' },
    'delay-ms': { type: 'string' }
  }
})

const QUICK = argv.quick
const SEED = argv.seed !== undefined ? Number(argv.seed) >>> 0 : randomInt(2 ** 31)
const CLIENTS = Number(argv.clients ?? (QUICK ? 16 : 32))
// Seconds of load per mode. Quick: the in-process mode and the Redis one
// fit in 2 minutes with start-up, settling and the checks.
const SECONDS = {
  memory: Number(argv.seconds ?? (QUICK ? 32 : 180)),
  redis: Number(argv.seconds ?? (QUICK ? 20 : 180))
}
const REDIS_SERVER = process.env.REDIS_SERVER_PATH ?? '/usr/bin/redis-server'
const WANT_REDIS = argv['no-redis'] === true ? false : argv.redis === true ? true : existsSync(REDIS_SERVER)
// The demo team's replay pace: 5 ms a word (the demo's default is 30, made
// for people to watch), so that runs turn over and the soak sees many.
const DELAY_MS = Number(argv['delay-ms'] ?? 5)
const OUT_DIR = argv.out !== undefined ? resolve(argv.out) : QUICK ? mkdtempSync(join(tmpdir(), 'soak-quick-')) : null
const RESULTS_FILE = OUT_DIR === null ? join(root, 'benchmarks', 'results', 'soak.json') : join(OUT_DIR, 'soak.json')
const DOC_FILE = OUT_DIR === null ? join(root, 'docs', 'reliability.md') : join(OUT_DIR, 'reliability.md')
for (const [name, v] of Object.entries({ clients: CLIENTS, seconds: SECONDS.memory, 'delay-ms': DELAY_MS })) {
  if (!Number.isFinite(v) || v < 0 || (name !== 'delay-ms' && v < 1)) { console.error(`soak: bad --${name}`); process.exit(2) }
}

// Server options that bound how long anything may linger, small so that
// the end-of-run checks can wait them out: an ended run is kept 5 s
// (retainAfterEnd), a run nobody reads is cancelled after 3 s
// (detachTimeout). Users come back within 2 s after a cut (under both).
const PLUGIN_OPTIONS = { retainAfterEnd: 5000, detachTimeout: 3000 }
// An abandoning user comes back this long after detachTimeout: a Redis
// worker host looks at a run's readers once a second and starts the clock
// at the first look that finds none, so its `abandoned` lands up to ~2 s
// after detachTimeout; the run is then kept retainAfterEnd for the user.
const ABANDON_RETURN_MS = [2000, 3000]
const CUT_GAP_MS = [100, 2000]
// Redis lookups (owner, token, owned) live keyTtl from a run's start: longer
// than any run of the soak (a run is watched for at most RUN_WATCHDOG_MS).
const KEY_TTL_MS = 20_000
const RUN_WATCHDOG_MS = 20_000
// Heap slope over the second half of a mode, after gc: a leak of 1 KiB per
// run at the soak's ~10 runs/s is 600 KiB/min; the noise of runs in flight
// at the moment of a sample (each holds up to ~100 KiB of log) stays well
// under this bound over 90 s, and measured runs (docs/reliability.md) show it.
// A quick run's window (about 17 s) is too short for that bound: there,
// the idle-heap check below is the one that catches a leak.
const HEAP_SLOPE_BOUND_KIB_PER_MIN = Number(process.env.SOAK_HEAP_SLOPE_KIB_MIN ?? (QUICK ? 4096 : 1024))
// Idle heap after the run against idle heap before it (both after gc, with
// no client): what a leak leaves behind, with room for V8's own caches.
const IDLE_HEAP_GROWTH_BOUND_MIB = 4
// The same without V8's code space. Bytecode lives in the old space, so
// some of it is still in there: a heap snapshot diff of the idle server
// before and after 920 runs (plain-read pre-warm) found +1.98 MB, of
// which 1.79 MB code and bytecode, ~0.1 MB V8 bookkeeping (WeakArrayLists,
// shapes) and no object of the server's; heapUsed without code space had
// grown 0.8 MiB. A leak of 1 KiB a run goes over over a full run's runs.
const IDLE_DATA_GROWTH_BOUND_MIB = 1.5

/** What a user does, by weight (one action = one run, except where said). */
const WEIGHTS = {
  read: 22, //      start, read to the end, answer the input request
  pause: 14, //     stop reading (ws.pause()) for 0.3–3 s, once or twice, then read on
  cancel: 12, //    cancel mid-run (now and then right after the start)
  stop: 10, //      graceful stop mid-run
  resume: 16, //    cut the connection (terminate or close) 1–3 times, come back within 2 s, attach after the last seq with the resume token
  detach: 5, //     detach, wait, attach again on the same connection
  watch2: 10, //    a second watcher (from the start or live); either answers the input; it may leave early
  abandon: 4, //    cut, come back after detachTimeout: the run was cancelled as abandoned
  library: 7 //     the project's client library: start, answer, a cut mid-run (it reconnects and resumes), await result
}

/** The chance that a user comes back as a new identity before an action. */
const SESSION_CHANCE = 0.25

const TERMINAL = new Set(['result', 'cancelled', 'error'])
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
const t0 = Date.now()
const elapsed = () => ((Date.now() - t0) / 1000).toFixed(1)
const log = (...a) => console.log(`[soak ${elapsed()}s]`, ...a)

// ------------------------------------------------------------------ PRNG

/** mulberry32: small, fast, good enough to pick actions; one per user. */
function mulberry32 (seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

class Rng {
  constructor (seed) { this.next = mulberry32(seed) }
  int (lo, hi) { return lo + Math.floor(this.next() * (hi - lo + 1)) }
  chance (p) { return this.next() < p }
  weighted (weights) {
    const total = Object.values(weights).reduce((a, b) => a + b, 0)
    let r = this.next() * total
    for (const [name, w] of Object.entries(weights)) { if ((r -= w) < 0) return name }
    return Object.keys(weights).at(-1)
  }
}

/** A user's seed from the run's seed, the mode and the user's index (so that the modes differ and replay). */
const userSeed = (mode, i) => (Math.imul(SEED ^ (mode === 'redis' ? 0x9E3779B9 : 0), 31) + Math.imul(i + 1, 0x85EBCA6B)) >>> 0

const TASKS = ['Plan a weekend in Lisbon', 'Write a haiku about backpressure', 'Summarise the release notes', 'Draft a reply to a customer', 'Plan a team offsite', 'Explain WebSockets to a child']

// ------------------------------------------------------------- the tally

function newTally () {
  return {
    runs: 0,
    outcomes: {},
    actions: Object.fromEntries(Object.keys(WEIGHTS).map((k) => [k, 0])),
    events: { sessions: 0, inputsAnswered: 0, inputsRefused: 0, inputsResent: 0, cuts: 0, reattaches: 0, resumeGaps: 0, detaches: 0, secondWatchers: 0, watcherLeftEarly: 0, pauses: 0, pausedMs: 0, lateControls: 0, lists: 0, connections: 0 },
    frames: { received: 0, tokens: 0, chunks: 0, cancelled: 0, error: 0, connectionErrors: {} },
    unexpectedOutcomes: {},
    byAction: {},
    durationsMs: [],
    violations: []
  }
}

function violation (tally, kind, detail) {
  tally.violations.push({ kind, ...detail })
  if (tally.violations.length <= 20) log(`VIOLATION ${kind}`, JSON.stringify(detail))
}

// ------------------------------------------------------- raw ws clients

let WebSocketClass

/** One user's connection. Frames are routed to the watch of their runId. */
class Conn {
  static async open (url, user) {
    const ws = new WebSocketClass(url, ['autogen-stream.v2'], { perMessageDeflate: false, headers: { 'x-soak-user': user.id } })
    const conn = new Conn(ws, user)
    await new Promise((resolve, reject) => {
      ws.once('open', resolve)
      ws.once('error', reject)
      ws.once('unexpected-response', (req, res) => reject(new Error(`upgrade refused: HTTP ${res.statusCode}`)))
    })
    ws.on('error', () => {})
    user.tally.events.connections++
    return conn
  }

  constructor (ws, user) {
    this.ws = ws
    this.user = user
    this.watches = new Map()
    /** Answers (attached, detached, runs, connection errors) awaited by runId. */
    this.waiters = new Set()
    this.open = true
    this.closed = new Promise((resolve) => ws.once('close', () => {
      this.open = false
      for (const w of this.watches.values()) w.connClosed()
      resolve()
    }))
    ws.on('message', (data) => this.#onMessage(JSON.parse(data)))
  }

  #onMessage (frame) {
    const tally = this.user.tally
    tally.frames.received++
    if (frame.type === 'cancelled') tally.frames.cancelled++
    if (frame.type === 'error') tally.frames.error++
    const isRunFrame = typeof frame.seq === 'number'
    if (isRunFrame) {
      const watch = this.watches.get(frame.runId)
      if (watch === undefined) violation(tally, 'frame-for-no-watch', { user: this.user.id, frame: brief(frame) })
      else watch.onFrame(frame)
      return
    }
    if (frame.type === 'error') {
      tally.frames.connectionErrors[frame.code] = (tally.frames.connectionErrors[frame.code] ?? 0) + 1
      if (frame.code === 'AGS_UNKNOWN_REQUEST') tally.events.inputsRefused++
    }
    for (const waiter of this.waiters) if (waiter.match(frame)) { this.waiters.delete(waiter); waiter.resolve(frame) }
  }

  /** The next answer frame that matches (or null when the connection closes first). */
  answer (match) {
    return new Promise((resolve) => {
      if (!this.open) { resolve(null); return }
      const waiter = { match, resolve }
      this.waiters.add(waiter)
      this.closed.then(() => { if (this.waiters.delete(waiter)) resolve(null) })
    })
  }

  send (frame) {
    if (this.open && this.ws.readyState === 1) { this.ws.send(JSON.stringify(frame)); return true }
    return false
  }

  /** A dropped network (terminate) or a closed tab (close). */
  async cut (rng) {
    this.user.tally.events.cuts++
    if (rng.chance(0.5)) this.ws.terminate()
    else this.ws.close(1000)
    await this.closed
  }

  async close () {
    if (this.ws.readyState === 0 || this.ws.readyState === 1) this.ws.close(1000)
    await this.closed
  }
}

const brief = (f) => ({ type: f.type, runId: f.runId, seq: f.seq, chunks: f.chunks, code: f.code, reason: f.reason })

/** A run as its user knows it: id, resume token, input requests, outcome. */
class Run {
  constructor (user, action) {
    this.user = user
    this.action = action
    this.runId = `${action}-${++user.runs}`
    this.resumeToken = undefined
    this.outcome = undefined
    this.inputs = new Map() // requestId -> { answered, conn }
    this.started = false
    this.startedAt = Date.now()
    this.conns = new Set()
    user.lastRun = this
  }

  /** An input_request seen by a watch: answered once, after a while, from a connection the user picks. */
  onInput (frame, watch) {
    const tally = this.user.tally
    if (frame.resent === true) tally.events.inputsResent++
    if (frame.answered === true) return
    const known = this.inputs.get(frame.requestId)
    // A resent request we answered already: our answer never arrived (the connection dropped), so again.
    if (known !== undefined && !(frame.resent === true && known.answered)) return
    const rng = this.user.rng
    const entry = { answered: false }
    this.inputs.set(frame.requestId, entry)
    const conns = [...this.conns].filter((c) => c.open)
    const via = conns[rng.int(0, Math.max(0, conns.length - 1))] ?? watch.conn
    // Most people answer within a second; some take a few.
    const delay = rng.chance(0.2) ? rng.int(1000, 3000) : rng.int(0, 800)
    setTimeout(() => this.#answer(frame.requestId, entry, via), delay)
  }

  #answer (requestId, entry, via) {
    if (entry.answered || this.outcome !== undefined) return
    // Only through a connection that reads the run now (not one that detached from it).
    const conn = via.open && this.conns.has(via) ? via : [...this.conns].find((c) => c.open)
    // No connection now: answered when the user is back (flushInputs).
    if (conn === undefined) return
    entry.answered = conn.send({ type: 'input', runId: this.runId, requestId, content: `Make it shorter (${this.user.id})` })
    if (entry.answered) this.user.tally.events.inputsAnswered++
  }

  /** After a reattach: requests we saw and have not answered (Redis does not resend them). */
  flushInputs () {
    for (const [requestId, entry] of this.inputs) if (!entry.answered) this.#answer(requestId, entry, [...this.conns].find((c) => c.open))
  }

  settle (terminal) {
    const tally = this.user.tally
    const outcome = terminal.type === 'result' ? 'result' : terminal.type === 'cancelled' ? `cancelled:${terminal.reason}` : `error:${terminal.code}`
    if (this.outcome === undefined) {
      this.outcome = outcome
      tally.durationsMs.push(Date.now() - this.startedAt)
      tally.outcomes[outcome] = (tally.outcomes[outcome] ?? 0) + 1
      const byAction = tally.byAction[this.action] ??= {}
      byAction[outcome] = (byAction[outcome] ?? 0) + 1
      if (!['result', 'cancelled:client', 'cancelled:abandoned'].includes(outcome)) {
        tally.unexpectedOutcomes[outcome] = (tally.unexpectedOutcomes[outcome] ?? 0) + 1
        violation(tally, 'unexpected-outcome', { user: this.user.id, runId: this.runId, action: this.action, outcome, message: terminal.message })
      }
    } else if (this.outcome !== outcome) {
      violation(tally, 'watchers-disagree', { user: this.user.id, runId: this.runId, first: this.outcome, then: outcome })
    }
  }
}

/**
 * One connection's reading of one run, from after `after`: checks that
 * frames are exactly contiguous (docs/protocol.md: first = seq - chunks + 1
 * for a token, seq otherwise; first === lastSeq + 1), counts them, and
 * hands input requests and the terminal frame to the run.
 */
class Watch {
  constructor (conn, run, after) {
    this.conn = conn
    this.run = run
    this.lastSeq = after
    this.frames = 0
    this.terminal = null
    this.waitingFor = null
    conn.watches.set(run.runId, this)
    run.conns.add(conn)
    this.ended = new Promise((resolve) => { this.resolveEnded = resolve })
  }

  onFrame (frame) {
    const tally = this.run.user.tally
    if (this.terminal !== null) violation(tally, 'frame-after-terminal', { user: this.run.user.id, runId: this.run.runId, frame: brief(frame) })
    if (frame.type === 'input_request' && frame.resent === true) { this.run.onInput(frame, this); return }
    const first = frame.type === 'token' ? frame.seq - frame.chunks + 1 : frame.seq
    if (first !== this.lastSeq + 1) {
      violation(tally, first <= this.lastSeq ? 'duplicate-seq' : 'seq-gap', { user: this.run.user.id, runId: this.run.runId, action: this.run.action, lastSeq: this.lastSeq, frame: brief(frame) })
    }
    this.lastSeq = frame.seq
    this.frames++
    if (frame.type === 'token') { tally.frames.tokens++; tally.frames.chunks += frame.chunks }
    if (frame.type === 'started') {
      if (frame.resumeToken !== undefined) this.run.resumeToken = frame.resumeToken
      if (!this.run.started) { this.run.started = true; tally.runs++ }
    }
    if (frame.type === 'input_request') this.run.onInput(frame, this)
    if (TERMINAL.has(frame.type)) {
      this.terminal = frame
      this.run.settle(frame)
      this.conn.watches.delete(this.run.runId)
      this.resolveEnded(frame)
    }
    if (this.waitingFor !== null && (this.frames >= this.waitingFor.n || this.terminal !== null)) { const w = this.waitingFor; this.waitingFor = null; w.resolve() }
  }

  connClosed () {
    this.run.conns.delete(this.conn)
    this.resolveEnded(null)
    if (this.waitingFor !== null) { const w = this.waitingFor; this.waitingFor = null; w.resolve() }
  }

  /** Resolves once this watch has seen n frames in all, or ended, or its connection closed. */
  framesSeen (n) {
    if (this.frames >= n || this.terminal !== null || !this.conn.open) return Promise.resolve()
    return new Promise((resolve) => { this.waitingFor = { n, resolve } })
  }

  /** Stops routing this run's frames here (after a detach). */
  drop () { this.conn.watches.delete(this.run.runId); this.run.conns.delete(this.conn) }
}

/** start on conn: the run and its owner's watch. */
function start (conn, user, action) {
  const run = new Run(user, action)
  const watch = new Watch(conn, run, -1)
  const task = TASKS[user.rng.int(0, TASKS.length - 1)]
  conn.send({ type: 'start', runId: run.runId, task })
  return { run, watch }
}

/**
 * attach on conn after `after` (the last seq this user saw), with the resume
 * token. AGS_RESUME_GAP is counted and followed by an attach from what the
 * server keeps. Resolves with the watch, or null if the run is unknown.
 */
async function attach (conn, run, after) {
  const tally = run.user.tally
  const watch = new Watch(conn, run, after)
  for (let tries = 0; tries < 3; tries++) {
    const answer = conn.answer((f) => (f.type === 'attached' && f.runId === run.runId) || (f.type === 'error' && f.ref?.runId === run.runId && f.ref?.type === 'attach'))
    conn.send({ type: 'attach', runId: run.runId, after: watch.lastSeq, ...(run.resumeToken === undefined ? {} : { resumeToken: run.resumeToken }) })
    const frame = await answer
    if (frame === null) return watch
    if (frame.type === 'attached') { tally.events.reattaches++; run.flushInputs(); return watch }
    if (frame.code === 'AGS_RESUME_GAP') {
      tally.events.resumeGaps++
      watch.lastSeq = frame.oldestSeq - 1
      continue
    }
    watch.drop()
    violation(tally, 'attach-refused', { user: run.user.id, runId: run.runId, action: run.action, code: frame.code, after, outcome: run.outcome })
    return null
  }
  watch.drop()
  return null
}

/** Sends cancel or stop; an answer of AGS_UNKNOWN_RUN means the run had just ended (counted). */
function control (conn, run, type) {
  if (run.outcome !== undefined) { run.user.tally.events.lateControls++; return }
  conn.answer((f) => f.type === 'error' && f.ref?.runId === run.runId && f.ref?.type === type).then((f) => {
    if (f !== null) run.user.tally.events.lateControls++
  })
  conn.send({ type, runId: run.runId })
}

async function endOf (watch) {
  return await watch.ended
}

// ------------------------------------------------------------- actions

const ACTIONS = {
  async read (user) {
    const conn = await Conn.open(user.url, user)
    const { watch } = start(conn, user, 'read')
    await endOf(watch)
    await conn.close()
  },

  async pause (user) {
    const { rng, tally } = user
    const conn = await Conn.open(user.url, user)
    const { watch } = start(conn, user, 'pause')
    for (let i = rng.int(1, 2); i > 0 && watch.terminal === null; i--) {
      await watch.framesSeen(watch.frames + rng.int(1, 60))
      if (watch.terminal !== null || !conn.open) break
      const ms = rng.int(300, 3000)
      conn.ws.pause()
      tally.events.pauses++
      tally.events.pausedMs += ms
      await sleep(ms)
      conn.ws.resume()
    }
    await endOf(watch)
    await conn.close()
  },

  async cancel (user) {
    const { rng } = user
    const conn = await Conn.open(user.url, user)
    const { run, watch } = start(conn, user, 'cancel')
    // Now and then at once (before the worker has the run), else mid-run.
    if (!rng.chance(0.1)) await watch.framesSeen(rng.int(1, 120))
    control(conn, run, 'cancel')
    await endOf(watch)
    await conn.close()
  },

  async stop (user) {
    const { rng } = user
    const conn = await Conn.open(user.url, user)
    const { run, watch } = start(conn, user, 'stop')
    await watch.framesSeen(rng.int(1, 120))
    control(conn, run, 'stop')
    await endOf(watch)
    await conn.close()
  },

  async resume (user) {
    const { rng } = user
    let conn = await Conn.open(user.url, user)
    const first = start(conn, user, 'resume')
    const run = first.run
    let watch = first.watch
    for (let cuts = rng.int(1, 3); cuts > 0 && run.outcome === undefined; cuts--) {
      await watch.framesSeen(watch.frames + rng.int(1, 60))
      if (run.outcome !== undefined) break
      const after = watch.lastSeq
      await conn.cut(rng)
      await sleep(rng.int(...CUT_GAP_MS))
      conn = await Conn.open(user.url, user)
      watch = await attach(conn, run, after)
      if (watch === null) break
    }
    if (watch !== null) await endOf(watch)
    await conn.close()
  },

  async detach (user) {
    const { rng, tally } = user
    const conn = await Conn.open(user.url, user)
    const { run, watch } = start(conn, user, 'detach')
    await watch.framesSeen(rng.int(1, 60))
    let last = watch
    if (run.outcome === undefined) {
      const answer = conn.answer((f) => (f.type === 'detached' && f.runId === run.runId) || (f.type === 'error' && f.ref?.runId === run.runId && f.ref?.type === 'detach'))
      conn.send({ type: 'detach', runId: run.runId })
      const frame = await answer
      if (frame?.type === 'detached') {
        tally.events.detaches++
        // Frames before `detached` came on the same socket: the server's lastSeq is ours.
        if (frame.lastSeq !== watch.lastSeq) violation(tally, 'detached-lastSeq', { user: user.id, runId: run.runId, server: frame.lastSeq, client: watch.lastSeq })
        watch.drop()
        await sleep(rng.int(100, 1500))
        last = await attach(conn, run, watch.lastSeq)
      } else if (frame?.type === 'error') {
        tally.events.lateControls++
      }
    }
    if (last !== null) await endOf(last)
    await conn.close()
  },

  async watch2 (user) {
    const { rng, tally } = user
    const a = await Conn.open(user.url, user)
    const { run, watch } = start(a, user, 'watch2')
    await watch.framesSeen(rng.int(1, 40))
    const b = await Conn.open(user.url, user)
    // A second tab reading from the start, or an observer joining live.
    const second = await attach(b, run, rng.chance(0.5) ? -1 : watch.lastSeq)
    if (second !== null) tally.events.secondWatchers++
    const leaves = second !== null && rng.chance(0.3)
    if (leaves) {
      await second.framesSeen(rng.int(1, 60))
      if (second.terminal === null) { tally.events.watcherLeftEarly++; await b.close() }
    }
    const [endA, endB] = await Promise.all([endOf(watch), second === null || leaves ? null : endOf(second)])
    if (endA !== null && endB !== null && endA.type !== endB.type) violation(tally, 'watchers-disagree', { user: user.id, runId: run.runId, a: endA.type, b: endB.type })
    // Now and then the user lists their runs (the ended one is kept).
    if (rng.chance(0.3) && a.open) {
      const answer = a.answer((f) => f.type === 'runs')
      a.send({ type: 'list' })
      const runs = await answer
      if (runs !== null) tally.events.lists++
    }
    await Promise.all([a.close(), b.close()])
  },

  async abandon (user) {
    const { rng } = user
    let conn = await Conn.open(user.url, user)
    const first = start(conn, user, 'abandon')
    await first.watch.framesSeen(rng.int(1, 40))
    if (first.run.outcome === undefined) {
      const after = first.watch.lastSeq
      await conn.cut(rng)
      // Past detachTimeout: the run has been cancelled (abandoned), and is kept retainAfterEnd for us.
      await sleep(PLUGIN_OPTIONS.detachTimeout + rng.int(...ABANDON_RETURN_MS))
      conn = await Conn.open(user.url, user)
      const watch = await attach(conn, first.run, after)
      if (watch !== null) await endOf(watch)
    } else {
      await endOf(first.watch)
    }
    await conn.close()
  },

  async library (user) {
    const { rng, tally } = user
    const sockets = []
    // The client library on ws, with a hand on its sockets to cut them.
    class Tracked extends WebSocketClass {
      constructor (...args) { super(...args); sockets.push(this); tally.events.connections++ }
    }
    const client = user.createClient({ url: user.url, WebSocket: Tracked, headers: { 'x-soak-user': user.id }, reconnect: { retries: 20, minDelay: 50, maxDelay: 1000, jitter: 0.5 } })
    const run = new Run(user, 'library')
    const cr = client.start(TASKS[rng.int(0, TASKS.length - 1)], { runId: run.runId })
    let lastSeq = -1
    let frames = 0
    const cutAt = rng.int(1, 80)
    cr.on('frame', (frame) => {
      tally.frames.received++
      if (frame.type === 'input_request' && frame.resent === true) return
      const first = frame.type === 'token' ? frame.seq - frame.chunks + 1 : frame.seq
      if (first !== lastSeq + 1) violation(tally, first <= lastSeq ? 'duplicate-seq' : 'seq-gap', { user: user.id, runId: run.runId, action: 'library', lastSeq, frame: brief(frame) })
      lastSeq = frame.seq
      if (frame.type === 'started' && !run.started) { run.started = true; tally.runs++ }
      if (frame.type === 'token') { tally.frames.tokens++; tally.frames.chunks += frame.chunks }
      if (frame.type === 'cancelled') tally.frames.cancelled++
      if (frame.type === 'error') tally.frames.error++
      if (++frames === cutAt && !TERMINAL.has(frame.type)) { tally.events.cuts++; sockets.at(-1)?.terminate() }
    })
    cr.on('gap', () => { tally.events.resumeGaps++ })
    cr.on('input_request', (frame) => {
      if (frame.answered === true) return
      setTimeout(() => { cr.respond(frame.requestId, `Make it shorter (${user.id})`); tally.events.inputsAnswered++ }, rng.int(0, 800))
    })
    try {
      const result = await cr.result
      run.settle({ type: 'result', result })
    } catch (err) {
      if (err.code === 'AGS_RUN_CANCELLED') run.settle({ type: 'cancelled', reason: err.reason })
      else run.settle({ type: 'error', code: err.code, message: err.message })
    }
    client.close()
    await Promise.all(sockets.map((ws) => ws.readyState === 3 ? null : new Promise((resolve) => ws.once('close', resolve))))
  }
}

// --------------------------------------------------------------- figures

function fdCount () {
  try { return readdirSync('/proc/self/fd').length } catch { return null }
}

function resources () {
  const counts = {}
  for (const type of process.getActiveResourcesInfo()) counts[type] = (counts[type] ?? 0) + 1
  return counts
}

const PROCESS_EVENTS = ['exit', 'beforeExit', 'SIGINT', 'SIGTERM', 'uncaughtException', 'unhandledRejection', 'warning']

function listeners (app) {
  const out = {}
  for (const e of PROCESS_EVENTS) out[`process.${e}`] = process.listenerCount(e)
  for (const e of ['upgrade', 'connection', 'request', 'close', 'error']) out[`server.${e}`] = app.server.listenerCount(e)
  for (const e of ['connection', 'close', 'error', 'headers']) out[`websocketServer.${e}`] = app.websocketServer.listenerCount(e)
  return out
}

function memory () {
  globalThis.gc()
  const m = process.memoryUsage()
  // Compiled code is part of heapUsed: V8 compiles more of the server as
  // the load exercises it, which is not a leak (a heap snapshot diff of the
  // idle server, before and after a 60 s soak: 1.77 of 2.1 MB was code).
  const code = getHeapSpaceStatistics().find((s) => s.space_name === 'code_space')?.space_used_size ?? 0
  return { rss: m.rss, heapUsed: m.heapUsed, code, heapTotal: m.heapTotal, external: m.external, arrayBuffers: m.arrayBuffers }
}

function rssOf (pid) {
  try { return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) * 1024 } catch { return null }
}

/** Least-squares slope of y over x. */
function slope (xs, ys) {
  const n = xs.length
  if (n < 2) return 0
  const mx = xs.reduce((a, b) => a + b, 0) / n
  const my = ys.reduce((a, b) => a + b, 0) / n
  let num = 0
  let den = 0
  for (let i = 0; i < n; i++) { num += (xs[i] - mx) * (ys[i] - my); den += (xs[i] - mx) ** 2 }
  return den === 0 ? 0 : num / den
}

function view (app) {
  const v = app.autogenStream
  return { connections: v.connections, runs: v.runs, runsAttached: v.runsAttached, runsDetached: v.runsDetached, runsRetained: v.runsRetained, logBytes: v.logBytes }
}

// ----------------------------------------------------------- the stacks

async function freePort () {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => { const { port } = server.address(); server.close(() => resolve(port)) })
  })
}

const venvPython = join(root, '.venv', 'bin', 'python')
// This checkout's bridge, whatever the venv has installed.
const PYTHONPATH = [join(root, 'python'), process.env.PYTHONPATH].filter(Boolean).join(':')
const FACTORY = 'autogen_stream_bridge.demo:create_team'

async function memoryStack (modules) {
  const { default: Fastify } = await import('fastify')
  const runner = modules.pythonRunner({ factory: FACTORY, workers: 2, env: { AUTOGEN_DEMO_DELAY_MS: String(DELAY_MS), PYTHONPATH } })
  const app = Fastify({ logger: { level: 'error' } })
  await app.register(modules.autogenStream, { ...PLUGIN_OPTIONS, runner, authenticate: identify })
  await app.listen({ port: 0, host: '127.0.0.1' })
  await runner.ready()
  const pids0 = runner.pids
  return {
    app,
    url: `ws://127.0.0.1:${app.server.address().port}/autogen`,
    /** Runs each worker holds on its side (the worker-side leak check), and whether a worker was replaced. */
    async workers () {
      const stats = await runner.stats()
      const pids = runner.pids
      return {
        active: stats.map((s) => (s === null ? null : s.active)),
        runs: stats.map((s) => (s === null ? null : Object.keys(s.runs).length)),
        started: stats.map((s) => (s === null ? null : s.started_total)),
        pids,
        restarts: pids.filter((p, i) => p !== pids0[i]).length,
        rss: pids.map((p) => (p === undefined ? null : rssOf(p)))
      }
    },
    async keys () { return null },
    close: () => app.close()
  }
}

async function redisStack (modules, hostConcurrency) {
  const { default: Fastify } = await import('fastify')
  const { Redis } = await import('ioredis')
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'soak-redis-'))
  const server = spawn(REDIS_SERVER, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--protected-mode', 'no', '--loglevel', 'warning'], { stdio: 'ignore' })
  const url = `redis://127.0.0.1:${port}`
  const cmd = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 })
  cmd.on('error', () => {})
  for (let i = 0; ; i++) {
    try { await cmd.connect(); if (await cmd.ping() === 'PONG') break } catch { cmd.disconnect() }
    if (i > 200) throw new Error(`redis-server did not start on port ${port}`)
    await sleep(25)
  }
  const prefix = 'ags:'
  const hosts = [1, 2].map((i) => {
    const child = spawn(venvPython, ['-m', 'autogen_stream_bridge.redis_host', '--redis', url, '--factory', FACTORY, '--concurrency', String(hostConcurrency), '--host-id', `soak-host-${i}`, '--parent-pid', String(process.pid), '--prefix', prefix, '--log-level', 'WARNING'], {
      env: { ...process.env, PYTHONPATH, AUTOGEN_DEMO_DELAY_MS: String(DELAY_MS) },
      stdio: ['ignore', 'ignore', 'pipe']
    })
    let stderr = ''
    child.stderr.setEncoding('utf8').on('data', (d) => { stderr = (stderr + d).slice(-20_000) })
    const exited = new Promise((resolve) => child.once('exit', resolve))
    return { child, id: `soak-host-${i}`, stderr: () => stderr, exited }
  })
  for (const host of hosts) {
    for (let i = 0; await cmd.exists(`${prefix}host:${host.id}`) !== 1; i++) {
      if (host.child.exitCode !== null || i > 1200) throw new Error(`worker host ${host.id} did not start:\n${host.stderr()}`)
      await sleep(50)
    }
  }
  const app = Fastify({ logger: { level: 'error' } })
  await app.register(modules.autogenStream, { ...PLUGIN_OPTIONS, runs: modules.redisRuns({ url, prefix, keyTtl: KEY_TTL_MS }), authenticate: identify })
  await app.listen({ port: 0, host: '127.0.0.1' })
  return {
    app,
    url: `ws://127.0.0.1:${app.server.address().port}/autogen`,
    hosts,
    /** The hosts' side: runs not ended in Redis (meta state), pending requests, host processes alive. */
    async workers () {
      let notEnded = 0
      let runs = 0
      for await (const batch of cmd.scanStream({ match: `${prefix}run:*:meta`, count: 500 })) {
        for (const key of batch) { runs++; if (await cmd.hget(key, 'state') !== 'ended') notEnded++ }
      }
      const requests = await cmd.xlen(`${prefix}requests`).catch(() => null)
      return { active: [notEnded], runs: [runs], requests, pids: hosts.map((h) => h.child.pid), restarts: hosts.filter((h) => h.child.exitCode !== null).length, rss: hosts.map((h) => rssOf(h.child.pid)) }
    },
    /** Keys under the prefix, by kind, and how many have no expiry. */
    async keys () {
      const byKind = {}
      let total = 0
      let persistent = 0
      const persistentKinds = {}
      for await (const batch of cmd.scanStream({ match: `${prefix}*`, count: 1000 })) {
        for (const key of batch) {
          total++
          const kind = key.slice(prefix.length).split(':')[0]
          byKind[kind] = (byKind[kind] ?? 0) + 1
          if (await cmd.pttl(key) === -1) { persistent++; persistentKinds[kind] = (persistentKinds[kind] ?? 0) + 1 }
        }
      }
      return { total, byKind, persistent, persistentKinds }
    },
    async close () {
      await app.close()
      for (const h of hosts) if (h.child.exitCode === null) h.child.kill('SIGTERM')
      let timer
      await Promise.race([Promise.all(hosts.map((h) => h.exited)), new Promise((resolve) => { timer = setTimeout(resolve, 8000) })])
      clearTimeout(timer)
      for (const h of hosts) if (h.child.exitCode === null) h.child.kill('SIGKILL')
      await cmd.quit().catch(() => cmd.disconnect())
      await new Promise((resolve) => { server.once('exit', resolve); server.kill('SIGKILL') })
      rmSync(dir, { recursive: true, force: true })
    }
  }
}

/** Every simulated user is an identity of its own (x-soak-user), as signed-in users are. */
function identify (request) {
  const id = request.headers['x-soak-user']
  return typeof id === 'string' && id !== '' ? { id } : undefined
}

// ------------------------------------------------------------ one mode

async function soakMode (mode, modules) {
  const seconds = SECONDS[mode]
  log(`${mode}: starting the stack (${mode === 'redis' ? '1 gateway, 2 worker hosts, redis-server' : 'Python runner, 2 workers'}; demo team, ${DELAY_MS} ms a word)`)
  const stack = mode === 'redis' ? await redisStack(modules, Math.ceil(CLIENTS / 2) + 2) : await memoryStack(modules)
  const { app } = stack
  const warnings = []
  const onWarning = (w) => { warnings.push(`${w.name}: ${w.message}`) }
  process.on('warning', onWarning)

  const makeUser = (i, tally, deadline) => ({
    id: `${mode}-u${i}.s0`, base: `${mode}-u${i}`, session: 0, index: i, rng: new Rng(userSeed(mode, i)), tally, url: stack.url, runs: 0, deadline, createClient: modules.createClient
  })

  // Pre-warm: every action once, and a few more plain runs at once, so
  // that what a server makes once and keeps (compiled code and bytecode of
  // every path, pooled Redis connections, the workers' imports) is there
  // before the baseline is taken. Their outcomes are not in the figures.
  const warmTally = newTally()
  const warmActions = [...Object.keys(WEIGHTS), 'read', 'read']
  await Promise.all(warmActions.map((action, i) => ACTIONS[action](makeUser(`w${i}`, warmTally, 0))))
  await settle(stack, mode, 'pre-warm')

  const baseline = await snapshot(stack)
  heapSnapshot(mode, 'start')
  log(`${mode}: baseline ${JSON.stringify({ fds: baseline.fds, heapMiB: mib(baseline.memory.heapUsed), rssMiB: mib(baseline.memory.rss), resources: baseline.resources })}`)

  // Sampled throughout: memory after gc, the live view, the workers' runs.
  const tally = newTally()
  const samples = []
  const started = Date.now()
  const deadline = started + seconds * 1000
  const sampling = { on: true }
  const sampler = (async () => {
    while (sampling.on) {
      const at = (Date.now() - started) / 1000
      const m = memory()
      const v = view(app)
      const w = await stack.workers()
      samples.push({ t: Number(at.toFixed(2)), rss: m.rss, heapUsed: m.heapUsed, ...v, workerActive: w.active.reduce((a, b) => a + (b ?? 0), 0), workerRss: w.rss.reduce((a, b) => a + (b ?? 0), 0), fds: fdCount(), runsSoFar: tally.runs })
      // A worker-side run the server does not have is a leak (a small lag at a run's end is not).
      await sleep(1000)
    }
  })()

  const users = Array.from({ length: CLIENTS }, (_, i) => makeUser(i, tally, deadline))
  let unaccounted = 0
  const loops = users.map(async (user, i) => {
    // Users arrive over the first two seconds, not all in one tick.
    await sleep(Math.floor((2000 * i) / CLIENTS))
    while (Date.now() < deadline) {
      // Now and then the user signs in anew (another identity, as another
      // person would be): what the server keeps per identity must go too.
      if (user.rng.chance(SESSION_CHANCE)) { user.id = `${user.base}.s${++user.session}`; tally.events.sessions++ }
      const action = user.rng.weighted(WEIGHTS)
      tally.actions[action]++
      user.lastRun = undefined
      let timer
      const watchdog = new Promise((resolve) => { timer = setTimeout(() => resolve('timeout'), RUN_WATCHDOG_MS) })
      const res = await Promise.race([ACTIONS[action](user).then(() => 'done', (err) => err), watchdog])
      clearTimeout(timer)
      if (res === 'timeout') violation(tally, 'stuck-action', { user: user.id, action, runId: `${action}-${user.runs}` })
      else if (res !== 'done') violation(tally, 'action-threw', { user: user.id, action, error: String(res?.stack ?? res) })
      // Every action starts a run; it must have started and ended, seen by the user.
      const run = user.lastRun
      if (run === undefined || !run.started || run.outcome === undefined) {
        unaccounted++
        violation(tally, 'run-unaccounted', { user: user.id, action, runId: run?.runId, started: run?.started ?? false, outcome: run?.outcome })
      }
      await sleep(user.rng.int(50, 500))
    }
  })
  let lastReport = Date.now()
  const progress = setInterval(() => {
    if (Date.now() - lastReport < 9000) return
    lastReport = Date.now()
    const s = samples.at(-1)
    log(`${mode}: ${tally.runs} runs, ${Object.entries(tally.outcomes).map(([k, v]) => `${k} ${v}`).join(', ')}; live ${s?.runs ?? 0} runs, ${s?.connections ?? 0} conns; heap ${mib(s?.heapUsed ?? 0)} MiB; violations ${tally.violations.length}`)
  }, 1000)
  await Promise.all(loops)
  clearInterval(progress)
  // The users' own objects (their last run, its sockets) out of the heap the end figures measure.
  for (const user of users) user.lastRun = undefined
  users.length = 0
  const loadSeconds = (Date.now() - started) / 1000
  sampling.on = false
  await sampler
  log(`${mode}: load over after ${loadSeconds.toFixed(1)} s: ${tally.runs} runs; settling`)

  const settled = await settle(stack, mode, 'end')
  const end = await snapshot(stack)
  heapSnapshot(mode, 'end')
  process.off('warning', onWarning)

  // Runs accounted for: every run a user started has exactly one outcome.
  const outcomesTotal = Object.values(tally.outcomes).reduce((a, b) => a + b, 0)
  const server = { ...app.autogenStream.counters }
  const checks = []
  const check = (name, ok, before, after, note) => checks.push({ name, ok, before, after, ...(note === undefined ? {} : { note }) })

  check('every run has one outcome', outcomesTotal === tally.runs && unaccounted === 0, tally.runs, outcomesTotal, 'runs started (a `started` frame seen) against outcomes counted from terminal frames')
  if (mode === 'memory') {
    check('server runsStarted = runs the users started', server.runsStarted - baseline.counters.runsStarted === tally.runs, tally.runs, server.runsStarted - baseline.counters.runsStarted)
  }
  // The server counts terminal frames as it writes them; a frame written to
  // a connection the user was cutting is never read (its run is read again
  // on the next connection), so the users may count fewer, at most one per cut.
  const cuts = tally.events.cuts
  const dCancels = server.cancels - baseline.counters.cancels
  const dErrors = server.errors - baseline.counters.errors
  check('cancelled frames: server wrote ≥ users read, within the cuts', dCancels >= tally.frames.cancelled && dCancels - tally.frames.cancelled <= cuts, dCancels, tally.frames.cancelled, `${cuts} cuts`)
  check('error frames: server wrote ≥ users read, within the cuts', dErrors >= tally.frames.error && dErrors - tally.frames.error <= cuts, dErrors, tally.frames.error, `${cuts} cuts`)
  check('no protocol violation (seq gap, duplicate, frame after terminal, stuck run, unexpected outcome)', tally.violations.length === 0, 0, tally.violations.length)
  check('runs back to 0', end.view.runs === 0, baseline.view.runs, end.view.runs)
  check('connections back to 0', end.view.connections === 0, baseline.view.connections, end.view.connections)
  check('retained runs expired (retainAfterEnd)', end.view.runsRetained === 0, baseline.view.runsRetained, end.view.runsRetained)
  check('logBytes back to 0', end.view.logBytes === 0, baseline.view.logBytes, end.view.logBytes)
  check(mode === 'redis' ? 'runs not ended in Redis: 0' : 'worker-side runs: 0 on every worker', end.workers.active.every((a) => a === 0), baseline.workers.active, end.workers.active)
  if (mode === 'memory') check('worker-side run maps empty', end.workers.runs.every((a) => a === 0), baseline.workers.runs, end.workers.runs)
  check(mode === 'redis' ? 'worker hosts alive' : 'no worker restarted', end.workers.restarts === 0, 0, end.workers.restarts)
  if (mode === 'redis') check('requests stream empty', end.workers.requests === 0, baseline.workers.requests, end.workers.requests)
  for (const [name, count] of Object.entries(end.listeners)) check(`listeners: ${name}`, count === baseline.listeners[name], baseline.listeners[name], count)
  const types = new Set([...Object.keys(baseline.resources), ...Object.keys(end.resources)])
  for (const type of [...types].sort()) check(`active resources: ${type}`, (end.resources[type] ?? 0) <= (baseline.resources[type] ?? 0), baseline.resources[type] ?? 0, end.resources[type] ?? 0)
  check('open file descriptors', end.fds <= baseline.fds, baseline.fds, end.fds)
  check('process warnings (MaxListenersExceeded, ...)', warnings.length === 0, 0, warnings.length, warnings.slice(0, 3).join(' | ') || undefined)
  if (mode === 'redis') {
    check('Redis: run keys (run:*) gone after retainAfterEnd', end.keys.byKind.run === undefined, baseline.keys.byKind.run ?? 0, end.keys.byKind.run ?? 0, JSON.stringify(end.keys.byKind))
    check('Redis: no new key without a TTL', end.keys.persistent <= baseline.keys.persistent, baseline.keys.persistent, end.keys.persistent, JSON.stringify(end.keys.persistentKinds))
    // Lookups (owner, owned, token) live keyTtl from their run's start: the
    // full run waits them out; a quick one only checks that they expire (above).
    if (!QUICK) check('Redis: keys back to baseline after keyTtl', end.keys.total <= baseline.keys.total, baseline.keys.total, end.keys.total, `waited ${settled.keysWaited} s`)
  }

  // Memory: flat after the warm-up (the first half is warm-up).
  // The window: the second half of the load's fixed time, not the tail
  // where users finish their last action and the server empties.
  const half = samples.filter((s) => s.t >= seconds / 2 && s.t <= seconds)
  const heapSlope = slope(half.map((s) => s.t), half.map((s) => s.heapUsed)) * 60 / 1024 // KiB/min
  const rssSlope = slope(half.map((s) => s.t), half.map((s) => s.rss)) * 60 / 1024
  // The Python side, reported: the workers' (hosts') RSS summed.
  const workerRssSlope = slope(half.map((s) => s.t), half.map((s) => s.workerRss)) * 60 / 1024
  const warm = half[0] ?? samples.at(-1)
  check('heapUsed slope over the second half', Math.abs(heapSlope) < HEAP_SLOPE_BOUND_KIB_PER_MIN, `< ${HEAP_SLOPE_BOUND_KIB_PER_MIN} KiB/min`, `${heapSlope.toFixed(0)} KiB/min`)
  const idleGrowth = (end.memory.heapUsed - baseline.memory.heapUsed) / 2 ** 20
  check('idle heapUsed after against before (after gc)', idleGrowth < IDLE_HEAP_GROWTH_BOUND_MIB, `${mib(baseline.memory.heapUsed)} MiB`, `${mib(end.memory.heapUsed)} MiB`, `bound +${IDLE_HEAP_GROWTH_BOUND_MIB} MiB`)
  const idleDataGrowth = ((end.memory.heapUsed - end.memory.code) - (baseline.memory.heapUsed - baseline.memory.code)) / 2 ** 20
  check('idle heapUsed without compiled code, after against before', idleDataGrowth < IDLE_DATA_GROWTH_BOUND_MIB, `${mib(baseline.memory.heapUsed - baseline.memory.code)} MiB`, `${mib(end.memory.heapUsed - end.memory.code)} MiB`, `bound +${IDLE_DATA_GROWTH_BOUND_MIB} MiB (code: ${mib(baseline.memory.code)} -> ${mib(end.memory.code)} MiB)`)

  const failed = checks.filter((c) => !c.ok)
  log(`${mode}: ${checks.length} checks, ${failed.length} failed${failed.length ? ': ' + failed.map((c) => `${c.name} (${JSON.stringify(c.before)} -> ${JSON.stringify(c.after)})`).join('; ') : ''}`)
  if (failed.length > 0 && mode === 'redis') {
    for (const h of stack.hosts) if (h.stderr().trim() !== '') log(`${h.id} stderr (tail):\n${h.stderr().slice(-3000)}`)
  }

  await stack.close()
  return {
    mode,
    seconds: loadSeconds,
    clients: CLIENTS,
    runs: tally.runs,
    outcomes: tally.outcomes,
    actions: tally.actions,
    outcomesByAction: tally.byAction,
    events: tally.events,
    frames: tally.frames,
    rates: { runsPerS: tally.runs / loadSeconds, tokensPerS: tally.frames.chunks / loadSeconds, framesPerS: tally.frames.received / loadSeconds },
    server: { counters: Object.fromEntries(Object.entries(server).map(([k, v]) => [k, v - baseline.counters[k]])) },
    memory: {
      start: { rss: baseline.memory.rss, heapUsed: baseline.memory.heapUsed, code: baseline.memory.code },
      afterWarmup: { rss: warm?.rss ?? null, heapUsed: warm?.heapUsed ?? null, t: warm?.t ?? null },
      loadEnd: { rss: samples.at(-1)?.rss ?? null, heapUsed: samples.at(-1)?.heapUsed ?? null },
      end: { rss: end.memory.rss, heapUsed: end.memory.heapUsed, code: end.memory.code },
      heapSlopeKiBPerMin: heapSlope,
      rssSlopeKiBPerMin: rssSlope,
      workerRssSlopeKiBPerMin: workerRssSlope,
      workersRssAfterWarmup: warm?.workerRss ?? null,
      peak: { rss: Math.max(...samples.map((s) => s.rss)), heapUsed: Math.max(...samples.map((s) => s.heapUsed)) },
      workersRss: { start: baseline.workers.rss, end: end.workers.rss }
    },
    runSeconds: quantiles(tally.durationsMs.map((ms) => ms / 1000)),
    peakLive: { runs: Math.max(0, ...samples.map((s) => s.runs)), connections: Math.max(0, ...samples.map((s) => s.connections)), logBytes: Math.max(0, ...samples.map((s) => s.logBytes)) },
    settleSeconds: settled.seconds,
    checks,
    violations: tally.violations.slice(0, 50),
    samples: samples.map((s) => ({ t: s.t, rss: s.rss, heapUsed: s.heapUsed, runs: s.runs, runsSoFar: s.runsSoFar, connections: s.connections, logBytes: s.logBytes, workerActive: s.workerActive, workerRss: s.workerRss })),
    ok: failed.length === 0
  }
}

function quantiles (values) {
  if (values.length === 0) return null
  const sorted = [...values].sort((a, b) => a - b)
  const at = (q) => Number(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))].toFixed(2))
  return { p50: at(0.5), p95: at(0.95), max: Number(sorted.at(-1).toFixed(2)) }
}

const mib = (b) => (b / 2 ** 20).toFixed(1)

/**
 * Waits until nothing is left: no run, connection, retained run or log
 * byte, no worker-side run; in Redis mode, no run key (their TTL is
 * retainAfterEnd) and, unless quick, every lookup expired (keyTtl).
 */
async function settle (stack, mode, what) {
  const t = Date.now()
  const limit = PLUGIN_OPTIONS.retainAfterEnd + PLUGIN_OPTIONS.detachTimeout + 10_000
  let keys = null
  let keysWaited = 0
  for (;;) {
    const v = view(stack.app)
    const w = await stack.workers()
    keys = await stack.keys()
    const clear = v.runs === 0 && v.connections === 0 && v.runsRetained === 0 && v.logBytes === 0 && w.active.every((a) => a === 0) && (keys === null || keys.byKind.run === undefined)
    if (clear || Date.now() - t > limit) break
    await sleep(200)
  }
  // Lookups live keyTtl from their run's start: the full run waits them out.
  if (mode === 'redis' && !QUICK) {
    const tk = Date.now()
    while (Date.now() - tk < KEY_TTL_MS + 5000) {
      const k = await stack.keys()
      if (['owner', 'owned', 'token'].every((kind) => k.byKind[kind] === undefined)) break
      await sleep(500)
    }
    keysWaited = Number(((Date.now() - tk) / 1000).toFixed(1))
  }
  // Closed sockets and timers let go in the next turns of the loop.
  await sleep(300)
  const seconds = (Date.now() - t) / 1000
  log(`${mode}: ${what} settled in ${seconds.toFixed(1)} s`)
  return { seconds, keys, keysWaited }
}

/**
 * SOAK_HEAP_SNAPSHOTS=<dir>: V8 heap snapshots of the idle server before
 * and after the users (open them in Chrome's DevTools, Memory, and compare),
 * to find what a failed heap check holds.
 */
function heapSnapshot (mode, when) {
  const dir = process.env.SOAK_HEAP_SNAPSHOTS
  if (dir === undefined || dir === '') return
  mkdirSync(dir, { recursive: true })
  log(`heap snapshot: ${writeHeapSnapshot(join(dir, `${mode}-${when}.heapsnapshot`))}`)
}

async function snapshot (stack) {
  await sleep(50)
  return {
    view: view(stack.app),
    counters: { ...stack.app.autogenStream.counters },
    workers: await stack.workers(),
    keys: await stack.keys(),
    listeners: listeners(stack.app),
    resources: resources(),
    fds: fdCount(),
    memory: memory()
  }
}

// ------------------------------------------------------------------ main

async function main () {
  const modules = {
    ...(await import('../dist/index.js')),
    ...(await import('../dist/redis/index.js')),
    ...(await import('../dist/client/index.js'))
  }
  modules.autogenStream = modules.default
  WebSocketClass = (await import('ws')).WebSocket
  const git = (...a) => spawnSync('git', a, { cwd: root, encoding: 'utf8' }).stdout.trim()
  const commit = git('rev-parse', '--short', 'HEAD')
  const dirty = git('status', '--porcelain', '--untracked-files=no', '--', 'lib', 'python', 'scripts') !== ''
  log(`seed ${SEED}, ${CLIENTS} users, ${SECONDS.memory} s in-process${WANT_REDIS ? `, ${SECONDS.redis} s through Redis` : ' (no Redis)'}, ${QUICK ? 'quick' : 'full'}; commit ${commit}${dirty ? ' (modified)' : ''}`)
  log(`replay with: npm run soak -- ${QUICK ? '--quick ' : ''}--seed=${SEED} --clients=${CLIENTS}${argv.seconds ? ` --seconds=${argv.seconds}` : ''}`)

  const results = {
    kind: QUICK ? 'quick' : 'full',
    seed: SEED,
    clients: CLIENTS,
    delayMs: DELAY_MS,
    weights: WEIGHTS,
    options: { plugin: PLUGIN_OPTIONS, keyTtlMs: KEY_TTL_MS, heapSlopeBoundKiBPerMin: HEAP_SLOPE_BOUND_KIB_PER_MIN, idleHeapGrowthBoundMiB: IDLE_HEAP_GROWTH_BOUND_MIB, idleDataGrowthBoundMiB: IDLE_DATA_GROWTH_BOUND_MIB, runWatchdogMs: RUN_WATCHDOG_MS },
    commit: `${commit}${dirty ? '+modified' : ''}`,
    // Writing a heap snapshot takes ~100 MiB of RSS that stays: RSS figures of such a run are not comparable.
    heapSnapshots: (process.env.SOAK_HEAP_SNAPSHOTS ?? '') !== '',
    date: new Date().toISOString().slice(0, 10),
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', memoryGiB: Number((totalmem() / 2 ** 30).toFixed(1)), node: process.version, platform: `${process.platform} ${process.arch}` },
    modes: [],
    wallSeconds: 0,
    ok: false
  }
  results.modes.push(await soakMode('memory', modules))
  if (WANT_REDIS) {
    if (!existsSync(REDIS_SERVER)) {
      log(`--redis: ${REDIS_SERVER} is missing`)
      results.modes.push({ mode: 'redis', skipped: `${REDIS_SERVER} is missing`, ok: false })
    } else {
      results.modes.push(await soakMode('redis', modules))
    }
  }
  results.wallSeconds = Number(((Date.now() - t0) / 1000).toFixed(1))
  results.ok = results.modes.every((m) => m.ok)

  mkdirSync(dirname(RESULTS_FILE), { recursive: true })
  writeFileSync(RESULTS_FILE, JSON.stringify(results, null, 2) + '\n')
  const { renderReliability } = await import('./soak-report.mjs')
  writeFileSync(DOC_FILE, renderReliability(results))
  log(`wrote ${RESULTS_FILE} and ${DOC_FILE}`)
  for (const m of results.modes) {
    if (m.skipped) continue
    log(`${m.mode}: ${m.runs} runs in ${m.seconds.toFixed(0)} s (${m.rates.runsPerS.toFixed(1)}/s, ${m.rates.tokensPerS.toFixed(0)} tokens/s); ${JSON.stringify(m.outcomes)}; heap slope ${m.memory.heapSlopeKiBPerMin.toFixed(0)} KiB/min; ${m.checks.filter((c) => !c.ok).length} failed checks`)
  }
  log(`${results.ok ? 'PASS' : 'FAIL'} in ${results.wallSeconds} s; seed ${SEED}`)
  process.exitCode = results.ok ? 0 : 1
}

await main()
