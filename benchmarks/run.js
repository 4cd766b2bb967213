// npm run bench [-- --quick] [-- --only=throughput,latency,...] [-- --merge] [-- --out=<file>]
//
// Every scenario runs the plugin and its baselines in the same run, each
// server in its own process, the load generator in another, all over
// 127.0.0.1. Results go to benchmarks/results/latest.json (or quick.json, or
// --out), and docs/benchmarks.md is regenerated from latest.json after a
// full run. Every scenario records the commit it ran on and whether it came
// from --merge (results.measuredOn); the report stamps the full run's commit
// and labels scenarios merged later. While it runs, a progress line every few
// seconds on stderr: scenario, step i/n, elapsed, estimated time left.
import { fork, spawn, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { cpus, loadavg, tmpdir, totalmem } from 'node:os'
import { dirname, join, resolve as resolvePath } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Redis } from 'ioredis'
import { normalizeResults, writeReport } from './report.js'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..')
const args = process.argv.slice(2)
const quick = args.includes('--quick')
const only = args.find((a) => a.startsWith('--only='))?.slice(7).split(',')
const merge = args.includes('--merge')
const outArg = args.find((a) => a.startsWith('--out='))?.slice(6)
const REPS = quick ? 1 : 3
// --profile: the plugin server writes a V8 CPU profile (node --cpu-prof) to benchmarks/results/profiles/.
const profile = args.includes('--profile')
const venvPython = join(root, '.venv', 'bin', 'python')
const benchPython = join(root, '.venv-bench', 'bin', 'python')

const sizes = quick
  ? { throughputTotal: Number(process.env.BENCH_THROUGHPUT_TOTAL ?? 60_000), streams: [1, 100, 1000], pacedStreams: 1000, pacedSeconds: 2, slowClients: 50, slowTokens: 40_000, slowSeconds: 4, idle: 2000, bridgeRuns: [1, 50], bridgeWords: Number(process.env.BENCH_BRIDGE_WORDS ?? 600), bridgeStallRuns: 20, bridgeStallSeconds: 2, resumeAttaches: 50, resumeAttachTokens: 10_000, resumeLiveRate: 1000, resumeReplayTokens: [10_000, 100_000], resumeReplayClients: [1, 10], resumeReplays: 3, redisHoldRuns: 20, redisHoldWords: 200_000, redisFinishedRuns: 20, redisFinishedWords: 5000, redisFailovers: 5, redisFailoverWords: 20_000, redisFailoverAfter: 1000 }
  : { throughputTotal: 400_000, streams: [1, 100, 1000], pacedStreams: 1000, pacedSeconds: 10, slowClients: 200, slowTokens: 60_000, slowSeconds: 20, idle: 10_000, bridgeRuns: [1, 50, 200], bridgeWords: 5000, bridgeStallRuns: 50, bridgeStallSeconds: 10, resumeAttaches: 200, resumeAttachTokens: 10_000, resumeLiveRate: 1000, resumeReplayTokens: [10_000, 100_000], resumeReplayClients: [1, 10], resumeReplays: 5, redisHoldRuns: 50, redisHoldWords: 200_000, redisFinishedRuns: 50, redisFinishedWords: 5000, redisFailovers: 9, redisFailoverWords: 20_000, redisFailoverAfter: 1000 }

// ---------------------------------------------------------------- processes

let nextId = 0
function ipc (child) {
  const waiting = new Map()
  child.on('message', (msg) => {
    const w = waiting.get(msg.id)
    if (w !== undefined) { waiting.delete(msg.id); w(msg) }
  })
  return (payload) => new Promise((resolve) => {
    const id = ++nextId
    waiting.set(id, resolve)
    child.send({ ...payload, id })
  })
}

async function startServer (kind, config = {}) {
  const child = fork(join(here, 'servers', `${kind}.js`), [], {
    env: { ...process.env, BENCH_CONFIG: JSON.stringify(config) },
    // Only the naive baseline needs a large heap (it buffers without bound).
    execArgv: ['--expose-gc', ...(kind === 'naive-fastify' ? ['--max-old-space-size=16384'] : []), ...(profile && kind === 'plugin' && (config.python === true) === (process.env.BENCH_PROFILE_PYTHON === '1') ? ['--cpu-prof', `--cpu-prof-dir=${join(here, 'results', 'profiles')}`] : [])],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc']
  })
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${kind} did not start`)), 60_000)
    child.once('message', (msg) => { clearTimeout(timer); resolve(msg.port) })
    child.once('exit', (code) => reject(new Error(`${kind} exited with ${code}`)))
  })
  const request = ipc(child)
  const gone = () => child.exitCode !== null || child.signalCode !== null
  return {
    kind,
    pid: child.pid,
    url: `ws://127.0.0.1:${port}${kind.startsWith('raw-ws') ? '/' : '/autogen'}`,
    stats: (gc = false) => request({ type: 'stats', gc }),
    /** SIGKILL (the Redis scenario's dead gateway); resolves once it has exited. */
    kill () {
      const exited = gone() ? Promise.resolve() : new Promise((resolve) => child.once('exit', resolve))
      child.kill('SIGKILL')
      return exited
    },
    async stop () {
      if (gone()) return
      const exited = new Promise((resolve) => child.once('exit', resolve))
      child.send({ type: 'stop' })
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
      await exited
      clearTimeout(timer)
    }
  }
}

async function startLoad () {
  const child = fork(join(here, 'load.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  await new Promise((resolve) => child.once('message', resolve))
  const request = ipc(child)
  return {
    child,
    async run (job) {
      const msg = await request({ job })
      if (msg.error) throw new Error(msg.error)
      return msg.result
    },
    stop: () => child.kill()
  }
}

// ---------------------------------------------------------------- progress

/**
 * Progress on stderr, never in the results: a line when a step starts and
 * every PROGRESS_EVERY_MS while it runs, with the scenario, step i/n and what
 * it measures, the time spent in the scenario, and the time left in it and
 * in the whole run. Each scenario's steps come with an estimate in seconds
 * made from the sizes (plans, below); once a scenario has taken a few
 * seconds, the estimates left are scaled by how its steps so far compared
 * with theirs.
 */
const PROGRESS_EVERY_MS = 5000
const duration = (s) => (s >= 90 ? `${Math.floor(s / 60)} min ${String(Math.round(s % 60)).padStart(2, '0')} s` : `${Math.round(s)} s`)
const progress = {
  name: '',
  steps: [],
  later: 0,
  i: -1,
  t0: 0,
  stepT0: 0,
  sub: '',
  timer: undefined,
  /** A scenario begins: its steps ({ label, seconds }), and the estimate of the scenarios after it. */
  start (name, steps, later) {
    Object.assign(this, { name, steps, later, i: -1, t0: Date.now(), sub: '' })
    clearInterval(this.timer)
    this.timer = setInterval(() => this.print(), PROGRESS_EVERY_MS)
    this.timer.unref()
  },
  /** The next step of the plan begins. */
  next () {
    this.i++
    this.stepT0 = Date.now()
    this.sub = ''
    this.print()
  },
  detail (text) { this.sub = text },
  end () { clearInterval(this.timer); this.timer = undefined; this.steps = [] },
  /** Real seconds per estimated second so far in this scenario (1 until a few seconds are done). */
  speed () {
    const doneEstimate = this.steps.slice(0, Math.max(this.i, 0)).reduce((n, s) => n + s.seconds, 0)
    const doneReal = (this.stepT0 - this.t0) / 1000
    return doneEstimate > 0 && doneReal > 5 ? doneReal / doneEstimate : 1
  },
  print () {
    const step = this.steps[this.i]
    if (step === undefined) return
    const speed = this.speed()
    const inStep = (Date.now() - this.stepT0) / 1000
    const left = Math.max(0, step.seconds * speed - inStep) + this.steps.slice(this.i + 1).reduce((n, s) => n + s.seconds, 0) * speed
    const whole = this.later > 0 ? `; the run: about ${duration(left + this.later * speed)} left` : ''
    process.stderr.write(`[progress] ${this.name}: step ${Math.min(this.i + 1, this.steps.length)}/${this.steps.length} (${step.label}${this.sub ? `, ${this.sub}` : ''}), ${duration((Date.now() - this.t0) / 1000)} elapsed, about ${duration(left)} left in it${whole}\n`)
  }
}

// -------------------------------------------------------------- statistics

function summarize (values) {
  const sorted = values.filter((v) => typeof v === 'number' && Number.isFinite(v)).sort((a, b) => a - b)
  if (sorted.length === 0) return null
  return { median: sorted[Math.floor((sorted.length - 1) / 2)], min: sorted[0], max: sorted.at(-1), n: sorted.length }
}

/** Runs `once` REPS times and folds every numeric path into {median,min,max}. */
async function repeat (once) {
  const runs = []
  for (let r = 0; r < REPS; r++) {
    if (REPS > 1) progress.detail(`repetition ${r + 1}/${REPS}`)
    runs.push(await once(r))
  }
  const fold = (items) => {
    const first = items[0]
    if (typeof first === 'number') return summarize(items)
    if (first === null || typeof first !== 'object') return first
    const out = {}
    for (const key of Object.keys(first)) out[key] = fold(items.map((i) => i?.[key]))
    return out
  }
  return fold(runs)
}

const flavourOf = { 'raw-ws': 'frames', 'raw-ws-corked': 'frames', 'naive-fastify': 'events', plugin: 'frames' }

async function withServer (kind, config, fn) {
  const server = await startServer(kind, config)
  try { return await fn(server) } finally { await server.stop() }
}

/**
 * One small run against a fresh server before it is measured, so that every
 * server (and V8's JIT in the Node ones) is measured warm; the in-process
 * AutoGen baseline does the same (benchmarks/python/inprocess.py).
 */
async function warmUp (load, server, flavour, tokens = 2000) {
  await load.run({ kind: 'streams', url: server.url, flavour, streams: 1, tokens, rate: 0, pauseMs: 0, latency: false, timeoutMs: 60_000 })
}

// --------------------------------------------------------------- scenarios

/** BENCH_VARIANTS=<regexp>: measure only the throughput variants whose label matches (for quick comparisons while profiling). */
const variantFilter = process.env.BENCH_VARIANTS ? new RegExp(process.env.BENCH_VARIANTS) : null

// The labels of the Node servers, as the results file and the report name them.
const RAW = 'raw ws (1 frame/token)'
const CORKED = 'raw ws, corked per batch (1 frame/token)'
const NAIVE = 'naive @fastify/websocket'
const PLUGIN = 'plugin'

function throughputVariants () {
  const variants = [
    [RAW, 'raw-ws', {}],
    [CORKED, 'raw-ws-corked', {}],
    [NAIVE, 'naive-fastify', {}],
    [PLUGIN, 'plugin', {}],
    ['plugin, coalesceTokens: false', 'plugin', { coalesce: false }]
  ]
  return variants.filter(([label]) => variantFilter === null || variantFilter.test(label))
}

/** Seconds to fork a server and warm it up (a first estimate; the progress line corrects it). */
const START_S = 2

async function throughput (load) {
  const out = {}
  for (const streams of sizes.streams) {
    out[streams] = {}
    const tokens = Math.ceil(sizes.throughputTotal / streams)
    for (const [label, kind, config] of throughputVariants()) {
      progress.next()
      out[streams][label] = await repeat(() => withServer(kind, config, async (server) => {
        await warmUp(load, server, flavourOf[kind])
        const before = await server.stats()
        const res = await load.run({ kind: 'streams', url: server.url, flavour: flavourOf[kind], streams, tokens, rate: 0, pauseMs: 0, latency: false, timeoutMs: 120_000 })
        const after = await server.stats()
        return { tokensPerS: res.tokensPerS, framesPerS: res.framesPerS, complete: res.tokens === res.expectedTokens ? 1 : 0, cpuUsPerToken: (after.cpuUs - before.cpuUs) / res.tokens, seconds: res.seconds }
      }))
      log(`throughput ${streams} streams, ${label}: ${fmt(out[streams][label].tokensPerS)} tokens/s, ${fmt(out[streams][label].framesPerS)} frames/s`)
    }
  }
  return out
}

const LATENCY_VARIANTS = [[RAW, 'raw-ws'], [CORKED, 'raw-ws-corked'], [NAIVE, 'naive-fastify'], [PLUGIN, 'plugin']]

/**
 * Paced streams: latency from each chunk's scheduled time (`due`) and from
 * the moment its runner yielded it, both to the client's receipt, and how
 * the frames came in at the client (load.js latencySamples). Then one more
 * run per server with tracing on (servers/common.js traceSocket): how long
 * the server took from the yield to ws.send() and to handing the bytes to
 * the kernel. Tracing costs a little per frame, so those figures come from
 * their own run, not from the measured ones.
 */
async function latency (load) {
  const out = {}
  const tokens = 20 * sizes.pacedSeconds
  const paced = (server, kind) => load.run({ kind: 'streams', url: server.url, flavour: flavourOf[kind], streams: sizes.pacedStreams, tokens, rate: 20, pauseMs: 0, latency: true, timeoutMs: 60_000 + sizes.pacedSeconds * 3000 })
  for (const [label, kind] of LATENCY_VARIANTS) {
    progress.next()
    out[label] = await repeat(() => withServer(kind, {}, async (server) => {
      await warmUp(load, server, flavourOf[kind])
      const before = await server.stats()
      const res = await paced(server, kind)
      const after = await server.stats()
      const l = res.latencyMs
      return {
        p50: l.p50,
        p99: l.p99,
        p999: l.p999,
        samples: l.count,
        // Samples count from the last stream's first token on (the steady state), this many seconds into the job.
        steadyFromS: l.steadyFromS,
        due: l.fromDue === null ? null : { p50: l.fromDue.p50, p99: l.fromDue.p99, p999: l.fromDue.p999 },
        // Frames the client handled per turn of its event loop, and the latency of the first one of a turn against the ones after it.
        framesPerClientTurn: l.count / l.clientTurns,
        firstInTurnP50: l.firstInTurn?.p50 ?? null,
        laterInTurnP50: l.laterInTurn?.p50 ?? null,
        laterInTurnShare: (l.laterInTurn?.count ?? 0) / l.count,
        serverCpuUsPerToken: (after.cpuUs - before.cpuUs) / res.tokens
      }
    }))
    log(`latency ${label}: from due p50 ${fmt(out[label].due?.p50)} ms, p99 ${fmt(out[label].due?.p99)} ms; from yield p50 ${fmt(out[label].p50)} ms, p99 ${fmt(out[label].p99)} ms; ${fmt(out[label].framesPerClientTurn)} frames per client turn`)
  }
  for (const [label, kind] of LATENCY_VARIANTS) {
    progress.next()
    out[label].trace = await withServer(kind, { trace: true }, async (server) => {
      await warmUp(load, server, flavourOf[kind])
      await server.stats()
      const res = await paced(server, kind)
      const { trace } = await server.stats()
      const l = res.latencyMs
      return {
        yieldToSendP50: trace?.stampToSendMs?.p50 ?? null,
        yieldToSendP99: trace?.stampToSendMs?.p99 ?? null,
        yieldToKernelP50: trace?.stampToWriteMs?.p50 ?? null,
        yieldToKernelP99: trace?.stampToWriteMs?.p99 ?? null,
        // Frames held over held.overMs between the yield and ws.send(): of seq % 64 === 0 (the plugin's sender yields to the event loop every 64 frames) and of the others.
        heldOverMs: trace?.held?.overMs ?? null,
        heldSeqMod64Zero: trace?.held?.seqMod64Zero ?? null,
        heldOthers: trace?.held?.others ?? null,
        clientP50: l.p50,
        clientDueP50: l.fromDue?.p50 ?? null,
        framesPerClientTurn: l.count / l.clientTurns
      }
    })
    const t = out[label].trace
    log(`latency ${label}, traced: yield → ws.send() p50 ${fmt(t.yieldToSendP50)} ms, → kernel p50 ${fmt(t.yieldToKernelP50)} ms p99 ${fmt(t.yieldToKernelP99)} ms`)
  }
  return out
}

async function slowConsumers (load) {
  const out = {}
  for (const [label, kind] of [[PLUGIN, 'plugin'], [NAIVE, 'naive-fastify']]) {
    const once = () => withServer(kind, {}, async (server) => {
      const base = await server.stats(true)
      const timeline = []
      const t0 = Date.now()
      // An object, so the loop below sees the listener's write (and lint knows it).
      const state = { resumed: false }
      load.child.once('message', (m) => { if (m.type === 'resuming') state.resumed = true })
      let retained = null
      let retainedHeap = null
      const sampling = (async () => {
        while (!state.resumed) {
          // Once, near the end of the stall: what is still held after a full GC.
          const gc = retained === null && (Date.now() - t0) / 1000 > sizes.slowSeconds - 1
          const s = await server.stats(gc)
          if (gc) {
            retained = (s.rss - base.rss) / 2 ** 20
            retainedHeap = (s.heapUsed + s.external - base.heapUsed - base.external) / 2 ** 20
          }
          timeline.push({ t: (Date.now() - t0) / 1000, rssMiB: (s.rss - base.rss) / 2 ** 20, buffered: s.buffered, pulledMax: s.pulledMax, gc })
          await new Promise((resolve) => setTimeout(resolve, 250))
        }
      })()
      // The naive server would take minutes to drain what it buffered: its
      // clients are cut after the stall; the plugin's clients read it all.
      const job = { kind: 'streams', url: server.url, flavour: flavourOf[kind], streams: sizes.slowClients, tokens: sizes.slowTokens, rate: 0, pauseMs: sizes.slowSeconds * 1000, dropAfterPause: kind !== 'plugin', latency: false, timeoutMs: 300_000 }
      const resP = load.run(job)
      await sampling
      progress.detail('stall over')
      const atResume = timeline.at(-1)
      const res = await resP
      const peak = Math.max(...timeline.map((p) => p.rssMiB))
      const late = timeline.filter((p) => p.t >= sizes.slowSeconds / 2)
      return {
        timeline,
        peakGrowthMiB: peak,
        retainedAfterGcMiB: retained,
        liveHeapAfterGcMiB: retainedHeap,
        growthSecondHalfMiB: late.length ? Math.max(...late.map((p) => p.rssMiB)) - Math.min(...late.map((p) => p.rssMiB)) : null,
        pulledPerRunMax: atResume?.pulledMax ?? null,
        bufferedBytesAtResume: atResume?.buffered ?? null,
        delivered: res.tokens,
        expected: res.expectedTokens,
        allDelivered: kind === 'plugin' ? (res.tokens === res.expectedTokens ? 1 : 0) : null
      }
    })
    const runs = []
    // The naive baseline takes minutes per repetition (it buffers gigabytes): once is enough to show it.
    const reps = slowReps(kind)
    for (let r = 0; r < reps; r++) {
      progress.next()
      runs.push(await once())
    }
    out[label] = { ...runs[0], peakGrowthMiB: summarize(runs.map((r) => r.peakGrowthMiB)), retainedAfterGcMiB: summarize(runs.map((r) => r.retainedAfterGcMiB)), liveHeapAfterGcMiB: summarize(runs.map((r) => r.liveHeapAfterGcMiB)), pulledPerRunMax: summarize(runs.map((r) => r.pulledPerRunMax)), reps: runs.length }
    log(`slow consumers ${label}: peak growth ${fmt(out[label].peakGrowthMiB.median)} MiB, pulled/run ${fmt(out[label].pulledPerRunMax.median)}, delivered ${runs[0].delivered}/${runs[0].expected}`)
  }
  return out
}

const slowReps = (kind) => (quick || kind !== 'plugin' ? 1 : 2)

/** Idle connections: raw ws, naive, plugin. The corked raw ws server is left out: without runs it is the same server as raw ws (it differs only in how it writes frames). */
async function idleConnections (load) {
  const out = {}
  for (const [label, kind] of [['raw ws', 'raw-ws'], [NAIVE, 'naive-fastify'], [PLUGIN, 'plugin']]) {
    progress.next()
    out[label] = await repeat(() => withServer(kind, {}, async (server) => {
      const before = await server.stats(true)
      await load.run({ kind: 'idle', url: server.url, flavour: flavourOf[kind], connections: sizes.idle, timeoutMs: 120_000 })
      await new Promise((resolve) => setTimeout(resolve, 500))
      const after = await server.stats(true)
      await load.run({ kind: 'release' })
      return { kibPerConnection: (after.rss - before.rss) / 1024 / sizes.idle, connections: after.connections }
    }))
    log(`idle ${label}: ${fmt(out[label].kibPerConnection)} KiB/connection`)
  }
  return out
}

// ------------------------------------------------------------------ resume

/** One identity for every connection of the resume scenario (the server's authenticate option): it owns the run, so attach needs no resumeToken. */
const RESUME_IDENTITY = 'bench-user'
const RESUME_LOG_BYTES = 2 ** 30

/**
 * Server options under which a run's log keeps a whole run of `tokens`
 * chunks: the producer is never held (maxRunLag), nothing already read is
 * trimmed (retainEvents, retainBytes), the ended run is kept for the whole
 * measurement (retainAfterEnd), and 10 clients may read it at once.
 */
function resumeOptions (tokens) {
  return { maxRunLag: { events: tokens + 10, bytes: RESUME_LOG_BYTES }, retainEvents: tokens + 10, retainBytes: RESUME_LOG_BYTES, retainAfterEnd: 600_000, maxWatchersPerRun: 64 }
}

function withResumeServer (load, tokens, fn) {
  return withServer('plugin', { resume: resumeOptions(tokens), identity: RESUME_IDENTITY }, async (server) => {
    // Warm: one small run, replayed once and attached to a few times.
    const warm = Math.min(2000, tokens)
    await load.run({ kind: 'resumeStart', url: server.url, runId: 'warm', tokens: warm, timeoutMs: 60_000 })
    await load.run({ kind: 'replay', url: server.url, runId: 'warm', clients: 1, expectedChunks: warm, timeoutMs: 60_000 })
    await load.run({ kind: 'attachLatency', url: server.url, runId: 'warm', attaches: 20, timeoutMs: 60_000 })
    return fn(server)
  })
}

/** Samples the server's RSS while `promise` runs; the peak, in bytes. */
async function peakRss (server, promise) {
  let peak = 0
  // An object, so the loop below sees the callback's write (and lint knows it).
  const state = { running: true }
  promise.finally(() => { state.running = false }).catch(() => {})
  while (state.running) {
    const s = await server.stats()
    peak = Math.max(peak, s.rss)
    await Promise.race([promise.catch(() => {}), new Promise((resolve) => setTimeout(resolve, 50))])
  }
  return { peak, result: await promise }
}

/** The plugin's own defaults for the options the resume scenario sets, as this build has them (dist/options.js is internal: null if it moved). */
async function resumeDefaults () {
  try {
    const { normalizeOptions } = await import(new URL('../dist/options.js', import.meta.url).href)
    const c = normalizeOptions({ runner: () => {} })
    return { maxRunLag: c.maxRunLag, retainEvents: c.retainEvents, retainBytes: c.retainBytes, retainAfterEnd: c.retainAfterEnd, maxWatchersPerRun: c.maxWatchersPerRun }
  } catch {
    return null
  }
}

/**
 * The commit measured (read-only git): `label` is `git rev-parse --short
 * HEAD`, plus `-dirty` when lib/, python/ or benchmarks/ had uncommitted
 * changes (what the servers, workers and harness ran is then not that
 * commit). libChanged: lib/ alone, as older results files recorded it.
 */
function buildOf () {
  const git = (...a) => spawnSync('git', a, { cwd: root, encoding: 'utf8' })
  const commit = git('rev-parse', '--short', 'HEAD')
  if (commit.status !== 0) return null
  const changed = (...paths) => git('status', '--porcelain', '--', ...paths).stdout.trim() !== ''
  const dirty = changed('lib', 'python', 'benchmarks')
  return { commit: commit.stdout.trim(), dirty, label: `${commit.stdout.trim()}${dirty ? '-dirty' : ''}`, libChanged: changed('lib') }
}

async function resume (load) {
  const N = sizes.resumeAttachTokens
  const liveSeconds = 30
  const liveTokens = sizes.resumeLiveRate * liveSeconds
  const out = {
    // Its own date and sizes: with --merge the file's machine and sizes are those of the latest run.
    date: new Date().toISOString(),
    sizes: { attaches: sizes.resumeAttaches, attachTokens: N, liveRate: sizes.resumeLiveRate, liveTokens, liveWarmMs: quick ? 1000 : 2000, replayTokens: sizes.resumeReplayTokens, replayClients: sizes.resumeReplayClients, replays: sizes.resumeReplays },
    identity: RESUME_IDENTITY,
    build: buildOf(),
    options: { attachFinished: resumeOptions(N), attachLive: resumeOptions(liveTokens), replay: Object.fromEntries(sizes.resumeReplayTokens.map((t) => [t, resumeOptions(t)])) },
    // The 1-minute load average before and after: other work on the machine shows here.
    loadAverage: { before: loadavg()[0] },
    attach: {},
    replay: {}
  }
  // What the defaults make of the same attach: the log keeps only a tail of a finished run.
  progress.next()
  out.defaults = await withServer('plugin', { identity: RESUME_IDENTITY }, async (server) => {
    const run = await load.run({ kind: 'resumeStart', url: server.url, runId: 'finished', tokens: N, timeoutMs: 120_000 })
    const seen = await load.run({ kind: 'attachOnce', url: server.url, runId: 'finished', timeoutMs: 30_000 })
    return { chunks: N, entries: run.lastSeq + 1, options: await resumeDefaults(), ...seen }
  })
  log(`resume with the default options, attach {after: -1} to a finished run of ${N} chunks: ${JSON.stringify(out.defaults.answer)}, ${out.defaults.entries} entries, replayed ${out.defaults.replayed} from seq ${out.defaults.firstSeq}`)

  // (1) attach latency: attach {after: -1}, first replayed frame, detach; again.
  const latency = (res, extra) => ({
    attachedP50: res.attachedMs.p50,
    attachedP99: res.attachedMs.p99,
    firstFrameP50: res.firstFrameMs.p50,
    firstFrameP99: res.firstFrameMs.p99,
    samples: res.firstFrameMs.count,
    logEntriesMin: res.logEntriesAtAttach?.min ?? null,
    logEntriesMax: res.logEntriesAtAttach?.max ?? null,
    ...extra
  })
  progress.next()
  out.attach.finished = await repeat(() => withResumeServer(load, N, async (server) => {
    const run = await load.run({ kind: 'resumeStart', url: server.url, runId: 'finished', tokens: N, timeoutMs: 120_000 })
    // Untimed first: the first attaches to a run of this size are measurably slower (JIT, heap growth).
    await load.run({ kind: 'attachLatency', url: server.url, runId: 'finished', attaches: Math.ceil(sizes.resumeAttaches / 4), timeoutMs: 120_000 })
    const res = await load.run({ kind: 'attachLatency', url: server.url, runId: 'finished', attaches: sizes.resumeAttaches, timeoutMs: 120_000 })
    return latency(res, { label: `finished run, ${N.toLocaleString('en-US')} chunks`, chunks: run.chunks })
  }))
  log(`resume attach, finished run of ${N} chunks: attached p50 ${fmt(out.attach.finished.attachedP50)} ms p99 ${fmt(out.attach.finished.attachedP99)} ms; first frame p50 ${fmt(out.attach.finished.firstFrameP50)} ms p99 ${fmt(out.attach.finished.firstFrameP99)} ms`)
  const warmMs = out.sizes.liveWarmMs
  progress.next()
  out.attach.live = await repeat(() => withResumeServer(load, liveTokens, async (server) => {
    const res = await load.run({ kind: 'attachLatency', url: server.url, runId: 'live', attaches: sizes.resumeAttaches, live: { tokens: liveTokens, rate: sizes.resumeLiveRate, warmMs }, timeoutMs: (liveSeconds - warmMs / 1000 - 2) * 1000 })
    return latency(res, { label: `live run, ${sizes.resumeLiveRate.toLocaleString('en-US')} chunks/s`, endedEarly: res.endedEarly ? 1 : 0 })
  }))
  log(`resume attach, live run at ${sizes.resumeLiveRate} chunks/s: attached p50 ${fmt(out.attach.live.attachedP50)} ms p99 ${fmt(out.attach.live.attachedP99)} ms; first frame p50 ${fmt(out.attach.live.firstFrameP50)} ms p99 ${fmt(out.attach.live.firstFrameP99)} ms`)

  // (2) replay throughput: 1 and 10 clients attach at once to a finished run and read all of it.
  for (const tokens of sizes.resumeReplayTokens) {
    out.replay[tokens] = {}
    for (const clients of sizes.resumeReplayClients) {
      progress.next()
      out.replay[tokens][clients] = await repeat(() => withResumeServer(load, tokens, async (server) => {
        const base = await server.stats(true)
        await load.run({ kind: 'resumeStart', url: server.url, runId: 'replayed', tokens, timeoutMs: 300_000 })
        const held = await server.stats(true)
        const job = { kind: 'replay', url: server.url, runId: 'replayed', clients, expectedChunks: tokens, timeoutMs: 300_000 }
        // One untimed replay of this run, then the timed ones (a replay of 10,000 chunks lasts milliseconds: one alone is noise).
        await load.run(job)
        // Server CPU from after the clients' connections are open to the last client's terminal frame.
        let cpuUs = 0
        let peak = 0
        const replays = []
        for (let k = 0; k < sizes.resumeReplays; k++) {
          await load.run({ ...job, kind: 'replayOpen' })
          const before = await server.stats()
          const sampled = await peakRss(server, load.run({ kind: 'replayGo' }))
          const after = await server.stats()
          cpuUs += after.cpuUs - before.cpuUs
          peak = Math.max(peak, sampled.peak, after.rss)
          replays.push(sampled.result)
        }
        const mid = (key) => summarize(replays.map((r) => r[key])).median
        return {
          framesPerS: mid('framesPerS'),
          chunksPerS: mid('chunksPerS'),
          mbPerS: mid('mbPerS'),
          seconds: mid('seconds'),
          firstFrameMs: summarize(replays.map((r) => r.firstFrameMs?.p50)).median,
          framesPerClient: mid('frames') / clients,
          bytesPerClient: mid('bytes') / clients,
          chunksPerTokenFrame: mid('chunksPerTokenFrame'),
          mergedShare: mid('mergedShare'),
          maxChunksPerFrame: Math.max(...replays.map((r) => r.maxChunksPerFrame)),
          seqErrors: replays.reduce((n, r) => n + r.seqErrors, 0),
          complete: replays.every((r) => r.complete === 1) ? 1 : 0,
          replays: replays.length,
          // The finished run's log (logBytes counts the frames' JSON), and what the server holds for it after a full GC.
          logMiB: (held.logBytes - base.logBytes) / 2 ** 20,
          heldRssMiB: (held.rss - base.rss) / 2 ** 20,
          heldHeapMiB: (held.heapUsed + held.external - base.heapUsed - base.external) / 2 ** 20,
          replayPeakRssMiB: (peak - held.rss) / 2 ** 20,
          serverCpuUsPerChunk: cpuUs / replays.reduce((n, r) => n + r.chunks, 0),
          // Server CPU time over the replays' wall time: under 1, the server was not what limited them.
          serverBusy: cpuUs / 1e6 / replays.reduce((n, r) => n + r.seconds, 0)
        }
      }))
      const r = out.replay[tokens][clients]
      log(`resume replay ${tokens} chunks to ${clients} client(s): ${fmt(r.framesPerS)} frames/s, ${fmt(r.chunksPerS)} chunks/s, ${fmt(r.mbPerS)} MB/s, ${fmt(r.chunksPerTokenFrame)} chunks/frame, complete ${fmt(r.complete)}, log ${fmt(r.logMiB)} MiB`)
    }
  }
  out.loadAverage.after = loadavg()[0]
  return out
}

// ---------------------------------------------------------- Python bridge

/**
 * The FastAPI baseline's own venv (.venv-bench: FastAPI, uvicorn, uvloop,
 * httptools and the bridge package, never in the project's .venv). Made on
 * first use, and brought up to date when benchmarks/python/requirements.txt
 * changed since (its hash is kept in .venv-bench/requirements.sha256).
 */
function ensureBenchVenv () {
  const requirements = join(here, 'python', 'requirements.txt')
  const stamp = join(root, '.venv-bench', 'requirements.sha256')
  const hash = createHash('sha256').update(readFileSync(requirements)).digest('hex')
  if (existsSync(benchPython) && existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === hash) return true
  if (!existsSync(benchPython)) {
    log('creating .venv-bench (FastAPI baseline, benchmarks only)')
    const mk = spawnSync('python3', ['-m', 'venv', join(root, '.venv-bench')], { stdio: 'inherit' })
    if (mk.status !== 0) return false
  } else {
    log('updating .venv-bench: benchmarks/python/requirements.txt changed')
  }
  const pip = spawnSync(benchPython, ['-m', 'pip', 'install', '-q', '--disable-pip-version-check', '-r', requirements, '-e', join(root, 'python')], { stdio: 'inherit' })
  if (pip.status !== 0) return false
  writeFileSync(stamp, hash + '\n')
  return true
}

function inProcess (runs, words) {
  const res = spawnSync(venvPython, [join(here, 'python', 'inprocess.py'), '--runs', String(runs), '--words', String(words)], { encoding: 'utf8', timeout: 300_000 })
  if (res.status !== 0) throw new Error(`inprocess.py failed: ${res.stderr}`)
  return JSON.parse(res.stdout.trim().split('\n').at(-1))
}

/** The Python processes of the bridge's default pool (pythonRunner's workers), and so of the fair FastAPI baseline. */
const BRIDGE_WORKERS = 2
const FASTAPI = { workers: BRIDGE_WORKERS, loop: 'uvloop', http: 'httptools', ws: 'websockets-sansio' }
const INPROC = 'AutoGen in-process (ceiling)'
const BRIDGE_PLUGIN = `plugin (pythonRunner, ${BRIDGE_WORKERS} workers)`
const FASTAPI_LABEL = `FastAPI + uvicorn (${FASTAPI.workers} workers, ${FASTAPI.loop}, ${FASTAPI.http}), model_dump_json, await send_text per event`

/**
 * The FastAPI baseline (benchmarks/python/fastapi_server.py) in uvicorn's
 * own multi-process mode: the parent binds one listening socket on
 * 127.0.0.1 and spawns FASTAPI.workers workers that all accept() from it
 * (no SO_REUSEPORT: the kernel wakes the workers waiting on the socket and
 * whichever accepts first takes the connection, as in any `uvicorn
 * --workers N` deployment). Ready once every worker has written its pid into
 * a directory of ours (its lifespan startup). `pids`: the parent and the
 * workers, whose CPU time is summed.
 */
async function startFastApi () {
  const readyDir = mkdtempSync(join(tmpdir(), 'bench-fastapi-'))
  // Port 0: the OS picks a free one and the server prints it (READY <port>).
  const child = spawn(benchPython, [join(here, 'python', 'fastapi_server.py'), '--port', '0', '--workers', String(FASTAPI.workers), '--loop', FASTAPI.loop, '--http', FASTAPI.http, '--ws', FASTAPI.ws, '--ready-dir', readyDir], { stdio: ['ignore', 'pipe', 'inherit'] })
  const exited = new Promise((resolve) => child.once('exit', resolve))
  const gone = () => child.exitCode !== null || child.signalCode !== null
  let workerPids = []
  const stop = async () => {
    if (!gone()) {
      child.kill('SIGTERM')
      const timer = setTimeout(() => { for (const pid of [child.pid, ...workerPids]) { try { process.kill(pid, 'SIGKILL') } catch {} } }, 15_000)
      await exited
      clearTimeout(timer)
    }
    rmSync(readyDir, { recursive: true, force: true })
  }
  try {
    const port = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('fastapi did not start')), 60_000)
      child.stdout.on('data', (d) => { const m = /READY (\d+)/.exec(d.toString()); if (m) { clearTimeout(timer); resolve(Number(m[1])) } })
      child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`fastapi exited ${code}`)) })
    })
    const deadline = Date.now() + 60_000
    while ((workerPids = readdirSync(readyDir).map(Number)).length < FASTAPI.workers) {
      if (gone() || Date.now() > deadline) throw new Error(`fastapi: ${workerPids.length} of ${FASTAPI.workers} workers ready`)
      await sleep(50)
    }
    const info = await (await fetch(`http://127.0.0.1:${port}/stats`)).json()
    return { url: `ws://127.0.0.1:${port}/ws`, pids: [child.pid, ...workerPids], workerPids, loop: info.loop ?? null, stop }
  } catch (err) {
    await stop()
    throw err
  }
}

function cpuOfPids (pids) {
  let ticks = 0
  for (const pid of pids) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
      ticks += Number(fields[11]) + Number(fields[12])
    } catch {}
  }
  return ticks * 10_000 // clock ticks (100/s) to microseconds
}

/** Runs per Python process, busiest first, from the pids the load generator saw in the FastAPI TaskResults. */
function runsPerWorker (res, workerPids) {
  return workerPids.map((pid) => res.workers?.[pid] ?? 0).sort((a, b) => b - a)
}

async function bridge (load) {
  if (!ensureBenchVenv()) return { skipped: 'could not create .venv-bench' }
  const out = {
    runs: {},
    setup: { words: sizes.bridgeWords, workers: BRIDGE_WORKERS, fastapi: { ...FASTAPI, loopSeen: null }, labels: { inProcess: INPROC, plugin: BRIDGE_PLUGIN, fastapi: FASTAPI_LABEL } }
  }
  for (const runs of sizes.bridgeRuns) {
    const row = {}
    progress.next()
    row[INPROC] = await repeat(() => {
      const r = inProcess(runs, sizes.bridgeWords)
      // Time to first token from the start of all runs, as the servers' is from the client's start.
      return { tokensPerS: r.tokens_per_s, ttftMs: (r.ttft_from_gather_ms ?? r.ttft_ms).p50, cpuUsPerToken: r.us_per_token }
    })
    progress.next()
    row[BRIDGE_PLUGIN] = await repeat(() => withServer('plugin', { python: true, workers: BRIDGE_WORKERS }, async (server) => {
      await warmRuns(load, server.url, runs)
      const before = await server.stats()
      const workerCpu0 = cpuOfPids(before.workers.map((w) => w.pid))
      const res = await load.run({ kind: 'streams', url: server.url, flavour: 'frames', streams: runs, tokens: sizes.bridgeWords, rate: 0, pauseMs: 0, latency: false, timeoutMs: 300_000 })
      const after = await server.stats()
      const cpu = after.cpuUs - before.cpuUs + cpuOfPids(after.workers.map((w) => w.pid)) - workerCpu0
      return { tokensPerS: res.tokensPerS, ttftMs: res.ttftMs.p50, cpuUsPerToken: cpu / res.tokens, complete: res.tokens === res.expectedTokens ? 1 : 0 }
    }))
    progress.next()
    row[FASTAPI_LABEL] = await repeat(async () => {
      const server = await startFastApi()
      try {
        out.setup.fastapi.loopSeen ??= server.loop
        // Warm, as the plugin's pool is: the same untimed round, again until every worker has run at least one (uvicorn decides which takes which).
        const warmed = {}
        for (let round = 0; round < 10 && server.workerPids.some((pid) => !warmed[pid]); round++) {
          const w = await warmRuns(load, server.url, runs, 'events')
          for (const pid of Object.keys(w.workers)) warmed[pid] = true
        }
        const cpu0 = cpuOfPids(server.pids)
        const res = await load.run({ kind: 'streams', url: server.url, flavour: 'events', streams: runs, tokens: sizes.bridgeWords, rate: 0, pauseMs: 0, latency: false, timeoutMs: 300_000 })
        const cpu = cpuOfPids(server.pids) - cpu0
        const spread = runsPerWorker(res, server.workerPids)
        return { tokensPerS: res.tokensPerS, ttftMs: res.ttftMs.p50, cpuUsPerToken: cpu / res.tokens, complete: res.tokens === res.expectedTokens ? 1 : 0, busiestWorkerRuns: spread[0], workersUsed: spread.filter((n) => n > 0).length }
      } finally { await server.stop() }
    })
    out.runs[runs] = row
    const f = row[FASTAPI_LABEL]
    log(`bridge ${runs} runs: in-process ${fmt(row[INPROC].tokensPerS)} tok/s, plugin ${fmt(row[BRIDGE_PLUGIN].tokensPerS)} tok/s (ttft ${fmt(row[BRIDGE_PLUGIN].ttftMs)} ms), fastapi ${fmt(f.tokensPerS)} tok/s (${fmt(f.busiestWorkerRuns)} of ${runs} runs on the busiest worker, ${fmt(f.workersUsed)} workers used)`)
  }
  // Stalled clients: worker memory over time while nothing is read.
  progress.next()
  out.stalled = await withServer('plugin', { python: true, workers: BRIDGE_WORKERS }, async (server) => {
    const base = await server.stats()
    const timeline = []
    const t0 = Date.now()
    const state = { resumed: false }
    load.child.once('message', (m) => { if (m.type === 'resuming') state.resumed = true })
    const resP = load.run({ kind: 'streams', url: server.url, flavour: 'frames', streams: sizes.bridgeStallRuns, tokens: 200_000, rate: 0, pauseMs: sizes.bridgeStallSeconds * 1000, dropAfterPause: true, latency: false, timeoutMs: 120_000 })
    while (!state.resumed) {
      const s = await server.stats()
      timeline.push({ t: (Date.now() - t0) / 1000, workersRssMiB: s.workers.reduce((n, w) => n + w.rss, 0) / 2 ** 20, nodeRssMiB: s.rss / 2 ** 20 })
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
    await resP
    const late = timeline.filter((p) => p.t >= sizes.bridgeStallSeconds / 2)
    return {
      runs: sizes.bridgeStallRuns,
      workersRssStartMiB: base.workers.reduce((n, w) => n + w.rss, 0) / 2 ** 20,
      workersRssGrowthSecondHalfMiB: late.length ? Math.max(...late.map((p) => p.workersRssMiB)) - Math.min(...late.map((p) => p.workersRssMiB)) : null,
      timeline
    }
  })
  log(`bridge stalled: worker RSS growth in the second half ${fmt(out.stalled.workersRssGrowthSecondHalfMiB)} MiB`)
  return out
}

// ------------------------------------------------------ Redis scale-out

const redisServerPath = process.env.REDIS_SERVER_PATH ?? '/usr/bin/redis-server'
const REDIS_PREFIX = 'ags:'
/** The Python factory on both sides of the comparison (servers/plugin.js gives it to pythonRunner). */
const BENCH_FACTORY = 'bridge_examples:long_stream'
const INPROC_LABEL = 'in-process bridge (pythonRunner, workers: 2)'
const REDIS_LABEL = 'Redis (1 gateway, 2 worker hosts, 1 redis-server)'
// As many words as a measured run: a first run of 500 words left V8 still compiling the
// bridge's path in the Node server (a measured single run cost it ~100 ms of CPU more
// than the next ones). Every side (plugin, FastAPI, Redis) gets the same warm-up.
const WARM_WORDS = 5000
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
/** CLOCK_MONOTONIC in ms, as the load generator's (load.js): kill times are compared with its receive times. */
const monotonic = () => { const [s, ns] = process.hrtime(); return s * 1e3 + ns / 1e6 }

function freePort () {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => { const { port } = server.address(); server.close(() => resolve(port)) })
  })
}

/** A redis-server of this run's own: a free port on 127.0.0.1, a temporary directory, persistence off. `cmd` is the orchestrator's connection (memory figures). */
async function startRedisServer () {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'bench-redis-'))
  const child = spawn(redisServerPath, ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--protected-mode', 'no'], { stdio: 'ignore' })
  const exited = new Promise((resolve) => child.once('exit', resolve))
  const url = `redis://127.0.0.1:${port}`
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) { child.kill('SIGKILL'); await exited }
    rmSync(dir, { recursive: true, force: true })
  }
  for (let i = 0; i < 200; i++) {
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null })
    probe.on('error', () => {})
    try {
      await probe.connect()
      if (await probe.ping() === 'PONG') {
        return { url, port, pid: child.pid, cmd: probe, async stop () { probe.disconnect(); await stop() } }
      }
    } catch {}
    probe.disconnect()
    await sleep(25)
  }
  await stop()
  throw new Error(`redis-server did not start on port ${port}`)
}

/** A worker host (python -m autogen_stream_bridge.redis_host) on the benchmark's factory; ready once its heartbeat key is in Redis. */
async function startHost (redis, hostId, concurrency) {
  const child = spawn(venvPython, ['-m', 'autogen_stream_bridge.redis_host', '--redis', redis.url, '--factory', BENCH_FACTORY, '--concurrency', String(concurrency), '--host-id', hostId, '--prefix', REDIS_PREFIX, '--log-level', 'WARNING'], {
    // bridge_examples (the factory) is a test helper in python/tests, as for servers/plugin.js.
    env: { ...process.env, PYTHONPATH: join(root, 'python', 'tests') },
    stdio: ['ignore', 'ignore', 'inherit']
  })
  const gone = () => child.exitCode !== null || child.signalCode !== null
  const exited = new Promise((resolve) => child.once('exit', resolve))
  const stop = async () => {
    if (gone()) return
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
    await exited
    clearTimeout(timer)
  }
  const deadline = Date.now() + 60_000
  while (await redis.cmd.exists(`${REDIS_PREFIX}host:${hostId}`) !== 1) {
    if (gone() || Date.now() > deadline) { await stop(); throw new Error(`worker host ${hostId} did not start`) }
    await sleep(50)
  }
  return { hostId, pid: child.pid, stop }
}

/** redis-server, `hosts` worker hosts of `concurrency` each, `gateways` gateways (servers/redis-gateway.js); all stopped after fn. */
async function withRedisStack ({ hosts = 2, concurrency, gateways = 1 }, fn) {
  const redis = await startRedisServer()
  const started = { hosts: [], gateways: [] }
  try {
    started.hosts = await Promise.all(Array.from({ length: hosts }, (_, i) => startHost(redis, `bench-host-${i + 1}`, concurrency)))
    for (let i = 0; i < gateways; i++) started.gateways.push(await startServer('redis-gateway', { redisUrl: redis.url }))
    return await fn({ redis, hosts: started.hosts, gateways: started.gateways, gateway: started.gateways[0] })
  } finally {
    for (const g of started.gateways) await g.stop()
    await Promise.all(started.hosts.map((h) => h.stop()))
    await redis.stop()
  }
}

/** INFO memory and clients: used_memory, its dataset part (used_memory_dataset: keys and values), connected clients. */
async function redisMemory (cmd) {
  const info = await cmd.info('memory') + await cmd.info('clients')
  const field = (name) => Number(new RegExp(`^${name}:(\\d+)`, 'm').exec(info)?.[1])
  return { used: field('used_memory'), dataset: field('used_memory_dataset'), clients: field('connected_clients') }
}

async function scanKeys (cmd, pattern) {
  const keys = []
  let cursor = '0'
  do {
    const [next, batch] = await cmd.scan(cursor, 'MATCH', pattern, 'COUNT', 1000)
    cursor = next
    keys.push(...batch)
  } while (cursor !== '0')
  return keys
}

const RUN_KEY_KINDS = ['log', 'meta', 'ctl', 'inputs', 'readers', 'alive', 'far']

/** Every run in Redis (docs/redis.md, "Keys"): MEMORY USAGE ... SAMPLES 0 (exact) of each of its keys, its log's length and head, its readers' positions, its state and the log's time to live. */
async function runsInRedis (cmd) {
  const metas = await scanKeys(cmd, `${REDIS_PREFIX}run:*:meta`)
  const runs = []
  for (const meta of metas) {
    const key = meta.slice(`${REDIS_PREFIX}run:`.length, -':meta'.length)
    const p = `${REDIS_PREFIX}run:${key}:`
    const pipe = cmd.pipeline()
    for (const kind of RUN_KEY_KINDS) pipe.memory('USAGE', p + kind, 'SAMPLES', 0)
    pipe.xlen(p + 'log').xrevrange(p + 'log', '+', '-', 'COUNT', 2).hgetall(p + 'readers').hget(p + 'meta', 'state').pttl(p + 'log')
    const res = (await pipe.exec()).map(([err, value]) => (err ? null : value))
    const [entries, last, readers, state, pttl] = res.slice(RUN_KEY_KINDS.length)
    runs.push({
      key,
      bytes: Object.fromEntries(RUN_KEY_KINDS.map((kind, i) => [kind, res[i] ?? 0])),
      entries,
      head: last?.[0] ? Number(last[0][0].split('-')[0]) : -1,
      // The last two frames' JSON (a finished run: its final message and its result, each with the whole answer).
      lastFramesBytes: (last ?? []).reduce((n, [, fields]) => n + Buffer.byteLength(fields[1] ?? ''), 0),
      positions: Object.values(readers ?? {}).map(Number),
      state,
      pttl
    })
  }
  return runs
}

/** MEMORY USAGE of the lookup keys a run adds besides its own (owner:, owned:, token:). */
async function lookupKeyBytes (cmd) {
  const out = {}
  for (const kind of ['owner', 'owned', 'token']) {
    const keys = await scanKeys(cmd, `${REDIS_PREFIX}${kind}:*`)
    let bytes = 0
    for (const k of keys) bytes += (await cmd.memory('USAGE', k, 'SAMPLES', 0)) ?? 0
    out[kind] = { keys: keys.length, bytes }
  }
  return out
}

/** What Redis holds per run: the used_memory delta, the dataset delta, and the keys' own MEMORY USAGE by kind, each divided by the runs. */
function perRun (base, mem, runs, lookups) {
  const n = runs.length
  const kinds = Object.fromEntries(RUN_KEY_KINDS.map((kind) => [kind, runs.reduce((s, r) => s + r.bytes[kind], 0) / n]))
  const lookup = Object.fromEntries(Object.entries(lookups).map(([kind, v]) => [kind, v.bytes / n]))
  const keysTotal = Object.values(kinds).reduce((a, b) => a + b, 0) + Object.values(lookup).reduce((a, b) => a + b, 0)
  const entries = summarize(runs.map((r) => r.entries))
  return {
    runs: n,
    usedMemoryDeltaPerRun: (mem.used - base.used) / n,
    datasetDeltaPerRun: (mem.dataset - base.dataset) / n,
    clientsDelta: mem.clients - base.clients,
    keysBytesPerRun: keysTotal,
    keyBytesPerRunByKind: { ...kinds, ...lookup },
    logEntries: entries,
    logBytesPerEntry: kinds.log / (runs.reduce((s, r) => s + r.entries, 0) / n)
  }
}

/** One row of the comparison: `runs` v1 clients at once, each a run of bridgeWords words, read as fast as they can. */
async function measureBridgeRuns (load, server, runs, pythonPids, redisPids) {
  const before = await server.stats()
  const py0 = cpuOfPids(pythonPids)
  const rd0 = cpuOfPids(redisPids)
  const res = await load.run({ kind: 'streams', url: server.url, flavour: 'frames', streams: runs, tokens: sizes.bridgeWords, rate: 0, pauseMs: 0, latency: false, timeoutMs: 300_000 })
  const after = await server.stats()
  const node = after.cpuUs - before.cpuUs
  const python = cpuOfPids(pythonPids) - py0
  const redisCpu = cpuOfPids(redisPids) - rd0
  return {
    tokensPerS: res.tokensPerS,
    ttftP50: res.ttftMs?.p50 ?? null,
    ttftP99: res.ttftMs?.p99 ?? null,
    runP50: res.runMs?.p50 ?? null,
    runP99: res.runMs?.p99 ?? null,
    seconds: res.seconds,
    cpuUsPerToken: (node + python + redisCpu) / res.tokens,
    nodeCpuUsPerToken: node / res.tokens,
    pythonCpuUsPerToken: python / res.tokens,
    redisCpuUsPerToken: redisPids.length === 0 ? null : redisCpu / res.tokens,
    complete: res.tokens === res.expectedTokens && res.failed === 0 ? 1 : 0
  }
}

/** The same untimed round on both sides first: as many runs as measured (at least 2, so each Python process has run one), WARM_WORDS words each. */
function warmRuns (load, url, runs, flavour = 'frames') {
  return load.run({ kind: 'streams', url, flavour, streams: Math.max(2, runs), tokens: WARM_WORDS, rate: 0, pauseMs: 0, latency: false, timeoutMs: 120_000 })
}

async function redis (load) {
  if (!existsSync(redisServerPath)) return { skipped: `${redisServerPath} is missing (apt-get install -y redis-server)` }
  const concurrencyFor = (runs) => Math.max(1, Math.ceil(runs / 2))
  const out = {
    // Its own date and sizes: with --merge the file's machine and sizes are those of the latest run.
    date: new Date().toISOString(),
    quick,
    repetitions: REPS,
    build: buildOf(),
    loadAverage: { before: loadavg()[0] },
    setup: {
      factory: BENCH_FACTORY,
      words: sizes.bridgeWords,
      warmWords: WARM_WORDS,
      runs: sizes.bridgeRuns,
      hostConcurrency: Object.fromEntries(sizes.bridgeRuns.map((r) => [r, concurrencyFor(r)])),
      hold: { runs: sizes.redisHoldRuns, words: sizes.redisHoldWords, hostConcurrency: concurrencyFor(sizes.redisHoldRuns) },
      finished: { runs: sizes.redisFinishedRuns, words: sizes.redisFinishedWords, hostConcurrency: concurrencyFor(sizes.redisFinishedRuns) },
      failover: { trials: sizes.redisFailovers, words: sizes.redisFailoverWords, killAfterChunks: sizes.redisFailoverAfter, hostConcurrency: 1 },
      gatewayOptions: await resumeDefaults(),
      // redisRuns' own defaults (lib/redis/runs.ts), and the host's (python/autogen_stream_bridge/redis_host.py): none is set here.
      redisRunsDefaults: { readWindow: 64, heartbeatMs: 1000, readerTtlMs: 10_000 },
      hostDefaults: { heartbeatMs: 1000, heartbeatTtlMs: 3000, claimAfterMs: 5000 },
      redisServer: null
    },
    runs: {}
  }

  // (1) tokens/s, time to first token and run duration: the same runs through Redis and through the in-process bridge.
  for (const runs of sizes.bridgeRuns) {
    const row = {}
    progress.next()
    row[INPROC_LABEL] = await repeat(() => withServer('plugin', { python: true, workers: 2 }, async (server) => {
      await warmRuns(load, server.url, runs)
      const { workers } = await server.stats()
      return measureBridgeRuns(load, server, runs, workers.map((w) => w.pid), [])
    }))
    progress.next()
    row[REDIS_LABEL] = await repeat(() => withRedisStack({ hosts: 2, concurrency: concurrencyFor(runs) }, async ({ redis, hosts, gateway }) => {
      out.setup.redisServer ??= /^redis_version:(\S+)/m.exec(await redis.cmd.info('server'))?.[1] ?? null
      await warmRuns(load, gateway.url, runs)
      return measureBridgeRuns(load, gateway, runs, hosts.map((h) => h.pid), [redis.pid])
    }))
    out.runs[runs] = row
    const a = row[INPROC_LABEL]; const b = row[REDIS_LABEL]
    log(`redis ${runs} runs: in-process bridge ${fmt(a.tokensPerS)} tok/s (ttft p50 ${fmt(a.ttftP50)} ms), Redis ${fmt(b.tokensPerS)} tok/s (ttft p50 ${fmt(b.ttftP50)} ms), hosts × ${concurrencyFor(runs)}`)
  }

  // (2) Redis memory per active run, held by clients that stopped reading: each run's host stops at maxRunLag.events beyond its reader.
  progress.next()
  out.held = await withRedisStack({ hosts: 2, concurrency: out.setup.hold.hostConcurrency }, async ({ redis, gateway }) => {
    const n = sizes.redisHoldRuns
    const base = await redisMemory(redis.cmd)
    const t0 = Date.now()
    await load.run({ kind: 'hold', url: gateway.url, streams: n, tokens: sizes.redisHoldWords, rate: 0, timeoutMs: 30_000 })
    // Held: every run is running and no log has moved for 2 s (the host re-reads its readers' positions every second when it has no credit).
    let seen = []
    let signature = ''
    let movedAt = Date.now()
    let held = false
    while (Date.now() - t0 < 120_000) {
      seen = await runsInRedis(redis.cmd)
      const now = seen.map((r) => `${r.key}:${r.head}`).sort().join(',')
      if (now !== signature) { signature = now; movedAt = Date.now() } else if (seen.length === n && seen.every((r) => r.state === 'running') && Date.now() - movedAt >= 2000) { held = true; break }
      await sleep(250)
    }
    const mem = await redisMemory(redis.cmd)
    const lookups = await lookupKeyBytes(redis.cmd)
    await load.run({ kind: 'release' })
    const lags = seen.filter((r) => r.positions.length > 0).map((r) => r.head - Math.min(...r.positions))
    return {
      held: held ? 1 : 0,
      heldAfterS: (movedAt - t0) / 1000,
      ...perRun(base, mem, seen, lookups),
      // head - the reader's committed position: at most maxRunLag.events when the host is holding the run.
      lagMax: Math.max(...lags),
      lagMin: Math.min(...lags),
      // How far the stalled clients got before the hold: what their sockets' kernel buffers took.
      readerPosition: summarize(seen.filter((r) => r.positions.length > 0).map((r) => Math.min(...r.positions))),
      head: summarize(seen.map((r) => r.head))
    }
  })
  log(`redis held runs: ${fmt(out.held.usedMemoryDeltaPerRun / 1024)} KiB used_memory per run, keys ${fmt(out.held.keysBytesPerRun / 1024)} KiB per run, ${fmt(out.held.logEntries)} log entries, lag ${out.held.lagMin}–${out.held.lagMax}`)

  // (2) ... and per finished run, while its keys are kept (retainAfterEnd).
  progress.next()
  out.finished = await withRedisStack({ hosts: 2, concurrency: out.setup.finished.hostConcurrency }, async ({ redis, gateway }) => {
    const n = sizes.redisFinishedRuns
    const base = await redisMemory(redis.cmd)
    const res = await load.run({ kind: 'streams', url: gateway.url, flavour: 'frames', streams: n, tokens: sizes.redisFinishedWords, rate: 0, pauseMs: 0, latency: false, timeoutMs: 300_000 })
    // The readers' last commits and leaves land.
    await sleep(1500)
    const seen = await runsInRedis(redis.cmd)
    const mem = await redisMemory(redis.cmd)
    const lookups = await lookupKeyBytes(redis.cmd)
    return {
      ...perRun(base, mem, seen, lookups),
      ended: seen.filter((r) => r.state === 'ended').length,
      lastFramesBytes: summarize(seen.map((r) => r.lastFramesBytes)),
      complete: res.tokens === res.expectedTokens ? 1 : 0,
      logPttlMs: summarize(seen.map((r) => r.pttl))
    }
  })
  log(`redis finished runs: ${fmt(out.finished.usedMemoryDeltaPerRun / 1024)} KiB used_memory per run, keys ${fmt(out.finished.keysBytesPerRun / 1024)} KiB per run, ${fmt(out.finished.logEntries)} log entries`)

  // (3) A gateway killed (SIGKILL) mid-run: its client attaches on another gateway, over a connection it opened before.
  progress.next()
  out.failover = await withRedisStack({ hosts: 2, concurrency: 1 }, async ({ redis, gateway: survivor }) => {
    await warmRuns(load, survivor.url, 2)
    const trials = []
    for (let i = 0; i < sizes.redisFailovers; i++) {
      progress.detail(`trial ${i + 1}/${sizes.redisFailovers}`)
      const doomed = await startServer('redis-gateway', { redisUrl: redis.url })
      try {
        await load.run({ kind: 'failoverStart', url: doomed.url, otherUrl: survivor.url, runId: `failover-${i}`, words: sizes.redisFailoverWords, minTokens: sizes.redisFailoverAfter, timeoutMs: 60_000 })
        const killedAt = monotonic()
        const dead = doomed.kill()
        trials.push(await load.run({ kind: 'failoverResume', killedAt, timeoutMs: 60_000 }))
        await dead
      } finally {
        await doomed.stop()
      }
    }
    const fold = (key) => summarize(trials.map((t) => t[key]))
    return {
      trials,
      killToClosedMs: fold('killToClosedMs'),
      attachToAttachedMs: fold('attachToAttachedMs'),
      attachToFirstFrameMs: fold('attachToFirstFrameMs'),
      killToFirstFrameMs: fold('killToFirstFrameMs'),
      maxGapMs: fold('maxGapMs'),
      killToMaxGapEndMs: fold('killToMaxGapEndMs'),
      killToEndMs: fold('killToEndMs'),
      headAheadAtAttach: fold('headAheadAtAttach'),
      chunksBeforeKill: fold('chunksBeforeKill'),
      complete: trials.every((t) => t.complete === 1) ? 1 : 0
    }
  })
  const f = out.failover
  log(`redis failover (${sizes.redisFailovers}): attach → attached ${fmt(f.attachToAttachedMs)} ms, → first frame ${fmt(f.attachToFirstFrameMs)} ms; kill → first frame ${fmt(f.killToFirstFrameMs)} ms; longest gap ${fmt(f.maxGapMs)} ms; complete ${f.complete}`)
  out.loadAverage.after = loadavg()[0]
  return out
}

// --------------------------------------------------------------------- main

const started = Date.now()
function log (msg) { console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${msg}`) }
function fmt (n) {
  const v = typeof n === 'object' && n !== null ? n.median : n
  return typeof v === 'number' ? (Math.abs(v) >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(2)) : String(v)
}

/**
 * Each scenario's steps for the progress line, in the order the scenario
 * runs them, with a first estimate of their seconds from the sizes (the
 * rates in them are this machine's, roughly: the progress line corrects
 * them as it goes).
 */
const plans = {
  throughput: () => sizes.streams.flatMap((streams) => throughputVariants().map(([label]) => ({ label: `${streams} streams, ${label}`, seconds: REPS * (START_S + 1 + sizes.throughputTotal / 150_000) }))),
  latency: () => [
    ...LATENCY_VARIANTS.map(([label]) => ({ label, seconds: REPS * (START_S + 2 + sizes.pacedSeconds) })),
    ...LATENCY_VARIANTS.map(([label]) => ({ label: `${label}, traced`, seconds: START_S + 2 + sizes.pacedSeconds }))
  ],
  slowConsumers: () => [
    ...Array.from({ length: slowReps('plugin') }, (_, r) => ({ label: `${PLUGIN}, repetition ${r + 1}/${slowReps('plugin')}`, seconds: START_S + sizes.slowSeconds + (sizes.slowClients * sizes.slowTokens) / 150_000 })),
    { label: NAIVE, seconds: START_S + sizes.slowSeconds + (sizes.slowClients * sizes.slowTokens) / 60_000 }
  ],
  idleConnections: () => ['raw ws', NAIVE, PLUGIN].map((label) => ({ label, seconds: REPS * (START_S + 2 + sizes.idle / 2000) })),
  bridge: () => [
    ...sizes.bridgeRuns.flatMap((runs) => {
      const tokens = runs * sizes.bridgeWords
      return [
        { label: `${runs} runs, ${INPROC}`, seconds: REPS * (2 + tokens / 150_000) },
        { label: `${runs} runs, ${BRIDGE_PLUGIN}`, seconds: REPS * (START_S + 2 + tokens / 40_000) },
        { label: `${runs} runs, FastAPI`, seconds: REPS * (START_S + 3 + tokens / 30_000) }
      ]
    }),
    { label: 'stalled clients', seconds: START_S + 3 + sizes.bridgeStallSeconds }
  ],
  resume: () => [
    { label: 'the default options', seconds: START_S + 3 },
    { label: 'attach latency, finished run', seconds: REPS * (START_S + 8) },
    { label: 'attach latency, live run', seconds: REPS * (START_S + 30) },
    ...sizes.resumeReplayTokens.flatMap((tokens) => sizes.resumeReplayClients.map((clients) => ({ label: `replay of ${tokens} chunks to ${clients} client(s)`, seconds: REPS * (START_S + 2 + ((sizes.resumeReplays + 2) * tokens * clients) / 500_000) })))
  ],
  redis: () => [
    ...sizes.bridgeRuns.flatMap((runs) => {
      const tokens = runs * sizes.bridgeWords
      return [{ label: `${runs} runs, in-process bridge`, seconds: REPS * (START_S + 3 + tokens / 40_000) }, { label: `${runs} runs, Redis`, seconds: REPS * (START_S + 5 + tokens / 35_000) }]
    }),
    { label: 'memory of held runs', seconds: 40 },
    { label: 'memory of finished runs', seconds: 10 + (sizes.redisFinishedRuns * sizes.redisFinishedWords) / 40_000 },
    { label: 'a gateway killed', seconds: 5 + 6 * sizes.redisFailovers }
  ]
}

const pythonVersion = spawnSync(existsSync(venvPython) ? venvPython : 'python3', ['-c', 'import sys; print(sys.version.split()[0])'], { encoding: 'utf8' }).stdout.trim()
const machine = { cores: cpus().length, cpu: cpus()[0]?.model, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version, python: pythonVersion, date: new Date().toISOString() }
const build = buildOf()
/** This run: its commit (with -dirty), and whether it merges into an existing file. */
const thisRun = { id: machine.date, commit: build?.label ?? 'unknown', dirty: build?.dirty ?? null, merge, quick, repetitions: REPS, only: only ?? null, date: machine.date }
const scenarios = { throughput, latency, slowConsumers, idleConnections, bridge, resume, redis }
mkdirSync(join(here, 'results'), { recursive: true })
const latestFile = join(here, 'results', 'latest.json')
const file = outArg !== undefined ? resolvePath(outArg) : quick ? join(here, 'results', 'quick.json') : latestFile
let results
if (merge && existsSync(file)) {
  // --merge: keep the other scenarios of the existing file, and its full run
  // (machine, sizes, repetitions at the top level are the full run's; each
  // scenario's own are in measuredOn).
  const previous = normalizeResults(JSON.parse(readFileSync(file, 'utf8')))
  results = { ...previous, runs: [...(previous.runs ?? []), thisRun] }
} else {
  results = {
    quick,
    repetitions: REPS,
    machine,
    sizes,
    scenarios: {},
    // Which run measured each scenario: machine, commit, --merge or not, sizes.
    measuredOn: {},
    // The run that made this file (null when a --merge made it): the report stamps its commit, and the README's headline uses only its scenarios.
    fullRun: merge ? null : thisRun,
    runs: [thisRun]
  }
}
const selected = Object.keys(scenarios).filter((name) => only === undefined || only.includes(name))
const estimate = (name) => plans[name]().reduce((n, step) => n + step.seconds, 0)
log(`${selected.join(', ')} on commit ${thisRun.commit}${merge ? ' (--merge)' : ''}, estimated ${duration(selected.reduce((n, name) => n + estimate(name), 0))}; results to ${file}`)
const load = await startLoad()
try {
  for (const [i, name] of selected.entries()) {
    log(`== ${name}`)
    progress.start(name, plans[name](), selected.slice(i + 1).reduce((n, later) => n + estimate(later), 0))
    results.scenarios[name] = await scenarios[name](load)
    progress.end()
    results.measuredOn[name] = { ...machine, runId: thisRun.id, commit: thisRun.commit, dirty: thisRun.dirty, merge, quick, repetitions: REPS, sizes }
    // Saved after every scenario: a failure later loses nothing measured.
    writeFileSync(file, JSON.stringify(results, null, 2) + '\n')
  }
} finally {
  progress.end()
  load.stop()
}
results.seconds = (Date.now() - started) / 1000
writeFileSync(file, JSON.stringify(results, null, 2) + '\n')
log(`wrote ${file}`)
// docs/benchmarks.md and the README's headline come from latest.json only (node benchmarks/report.js --from=<file> --out=<dir> for any other file).
if (file === latestFile) writeReport(results, root)
log(`done in ${results.seconds.toFixed(1)} s`)
