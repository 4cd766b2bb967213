// npm run bench [-- --quick] [-- --only=throughput,latency,...] [-- --merge]
//
// Every scenario runs the plugin and its baselines in the same run, each
// server in its own process, the load generator in another, all over
// 127.0.0.1. Results go to benchmarks/results/latest.json (or quick.json),
// and docs/benchmarks.md is regenerated from them.
import { fork, spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, writeFileSync, readFileSync } from 'node:fs'
import { cpus, loadavg, totalmem } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { writeReport } from './report.js'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..')
const args = process.argv.slice(2)
const quick = args.includes('--quick')
const only = args.find((a) => a.startsWith('--only='))?.slice(7).split(',')
const REPS = quick ? 1 : 3
// --profile: the plugin server writes a V8 CPU profile (node --cpu-prof) to benchmarks/results/profiles/.
const profile = args.includes('--profile')
const venvPython = join(root, '.venv', 'bin', 'python')
const benchPython = join(root, '.venv-bench', 'bin', 'python')

const sizes = quick
  ? { throughputTotal: Number(process.env.BENCH_THROUGHPUT_TOTAL ?? 60_000), streams: [1, 100, 1000], pacedStreams: 1000, pacedSeconds: 2, slowClients: 50, slowTokens: 40_000, slowSeconds: 4, idle: 2000, bridgeRuns: [1, 50], bridgeWords: Number(process.env.BENCH_BRIDGE_WORDS ?? 600), bridgeStallRuns: 20, bridgeStallSeconds: 2, resumeAttaches: 50, resumeAttachTokens: 10_000, resumeLiveRate: 1000, resumeReplayTokens: [10_000, 100_000], resumeReplayClients: [1, 10], resumeReplays: 3 }
  : { throughputTotal: 400_000, streams: [1, 100, 1000], pacedStreams: 1000, pacedSeconds: 10, slowClients: 200, slowTokens: 60_000, slowSeconds: 20, idle: 10_000, bridgeRuns: [1, 50, 200], bridgeWords: 5000, bridgeStallRuns: 50, bridgeStallSeconds: 10, resumeAttaches: 200, resumeAttachTokens: 10_000, resumeLiveRate: 1000, resumeReplayTokens: [10_000, 100_000], resumeReplayClients: [1, 10], resumeReplays: 5 }

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
  return {
    kind,
    url: `ws://127.0.0.1:${port}${kind === 'raw-ws' ? '/' : '/autogen'}`,
    stats: (gc = false) => request({ type: 'stats', gc }),
    async stop () {
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

// -------------------------------------------------------------- statistics

function summarize (values) {
  const sorted = values.filter((v) => typeof v === 'number' && Number.isFinite(v)).sort((a, b) => a - b)
  if (sorted.length === 0) return null
  return { median: sorted[Math.floor((sorted.length - 1) / 2)], min: sorted[0], max: sorted.at(-1), n: sorted.length }
}

/** Runs `once` REPS times and folds every numeric path into {median,min,max}. */
async function repeat (once) {
  const runs = []
  for (let r = 0; r < REPS; r++) runs.push(await once(r))
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

const flavourOf = { 'raw-ws': 'frames', 'naive-fastify': 'events', plugin: 'frames' }

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

async function throughput (load) {
  const variants = [
    ['raw ws (1 frame/token)', 'raw-ws', {}],
    ['naive @fastify/websocket', 'naive-fastify', {}],
    ['plugin', 'plugin', {}],
    ['plugin, coalesceTokens: false', 'plugin', { coalesce: false }]
  ]
  const out = {}
  for (const streams of sizes.streams) {
    out[streams] = {}
    const tokens = Math.ceil(sizes.throughputTotal / streams)
    for (const [label, kind, config] of variants) {
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

async function latency (load) {
  const variants = [['raw ws (1 frame/token)', 'raw-ws'], ['naive @fastify/websocket', 'naive-fastify'], ['plugin', 'plugin']]
  const out = {}
  const tokens = 20 * sizes.pacedSeconds
  for (const [label, kind] of variants) {
    out[label] = await repeat(() => withServer(kind, {}, async (server) => {
      await warmUp(load, server, flavourOf[kind])
      const res = await load.run({ kind: 'streams', url: server.url, flavour: flavourOf[kind], streams: sizes.pacedStreams, tokens, rate: 20, pauseMs: 0, latency: true, timeoutMs: 60_000 + sizes.pacedSeconds * 3000 })
      return { p50: res.latencyMs.p50, p99: res.latencyMs.p99, p999: res.latencyMs.p999, samples: res.latencyMs.count }
    }))
    log(`latency ${label}: p50 ${fmt(out[label].p50)} ms, p99 ${fmt(out[label].p99)} ms`)
  }
  return out
}

async function slowConsumers (load) {
  const out = {}
  for (const [label, kind] of [['plugin', 'plugin'], ['naive @fastify/websocket', 'naive-fastify']]) {
    const once = () => withServer(kind, {}, async (server) => {
      const base = await server.stats(true)
      const timeline = []
      const t0 = Date.now()
      // An object, so the loop below sees the listener's write (and lint knows it).
      const progress = { resumed: false }
      load.child.once('message', (m) => { if (m.type === 'resuming') progress.resumed = true })
      let retained = null
      let retainedHeap = null
      const sampling = (async () => {
        while (!progress.resumed) {
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
    for (let r = 0; r < (quick || kind !== 'plugin' ? 1 : 2); r++) runs.push(await once())
    out[label] = { ...runs[0], peakGrowthMiB: summarize(runs.map((r) => r.peakGrowthMiB)), retainedAfterGcMiB: summarize(runs.map((r) => r.retainedAfterGcMiB)), liveHeapAfterGcMiB: summarize(runs.map((r) => r.liveHeapAfterGcMiB)), pulledPerRunMax: summarize(runs.map((r) => r.pulledPerRunMax)), reps: runs.length }
    log(`slow consumers ${label}: peak growth ${fmt(out[label].peakGrowthMiB.median)} MiB, pulled/run ${fmt(out[label].pulledPerRunMax.median)}, delivered ${runs[0].delivered}/${runs[0].expected}`)
  }
  return out
}

async function idleConnections (load) {
  const out = {}
  for (const [label, kind] of [['raw ws', 'raw-ws'], ['naive @fastify/websocket', 'naive-fastify'], ['plugin', 'plugin']]) {
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

/** The commit measured, and whether lib/ had uncommitted changes then (read-only git). */
function buildOf () {
  const git = (...a) => spawnSync('git', a, { cwd: root, encoding: 'utf8' })
  const commit = git('rev-parse', '--short', 'HEAD')
  if (commit.status !== 0) return null
  return { commit: commit.stdout.trim(), libChanged: git('status', '--porcelain', '--', 'lib').stdout.trim() !== '' }
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
  out.attach.finished = await repeat(() => withResumeServer(load, N, async (server) => {
    const run = await load.run({ kind: 'resumeStart', url: server.url, runId: 'finished', tokens: N, timeoutMs: 120_000 })
    // Untimed first: the first attaches to a run of this size are measurably slower (JIT, heap growth).
    await load.run({ kind: 'attachLatency', url: server.url, runId: 'finished', attaches: Math.ceil(sizes.resumeAttaches / 4), timeoutMs: 120_000 })
    const res = await load.run({ kind: 'attachLatency', url: server.url, runId: 'finished', attaches: sizes.resumeAttaches, timeoutMs: 120_000 })
    return latency(res, { label: `finished run, ${N.toLocaleString('en-US')} chunks`, chunks: run.chunks })
  }))
  log(`resume attach, finished run of ${N} chunks: attached p50 ${fmt(out.attach.finished.attachedP50)} ms p99 ${fmt(out.attach.finished.attachedP99)} ms; first frame p50 ${fmt(out.attach.finished.firstFrameP50)} ms p99 ${fmt(out.attach.finished.firstFrameP99)} ms`)
  const warmMs = out.sizes.liveWarmMs
  out.attach.live = await repeat(() => withResumeServer(load, liveTokens, async (server) => {
    const res = await load.run({ kind: 'attachLatency', url: server.url, runId: 'live', attaches: sizes.resumeAttaches, live: { tokens: liveTokens, rate: sizes.resumeLiveRate, warmMs }, timeoutMs: (liveSeconds - warmMs / 1000 - 2) * 1000 })
    return latency(res, { label: `live run, ${sizes.resumeLiveRate.toLocaleString('en-US')} chunks/s`, endedEarly: res.endedEarly ? 1 : 0 })
  }))
  log(`resume attach, live run at ${sizes.resumeLiveRate} chunks/s: attached p50 ${fmt(out.attach.live.attachedP50)} ms p99 ${fmt(out.attach.live.attachedP99)} ms; first frame p50 ${fmt(out.attach.live.firstFrameP50)} ms p99 ${fmt(out.attach.live.firstFrameP99)} ms`)

  // (2) replay throughput: 1 and 10 clients attach at once to a finished run and read all of it.
  for (const tokens of sizes.resumeReplayTokens) {
    out.replay[tokens] = {}
    for (const clients of sizes.resumeReplayClients) {
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

function ensureBenchVenv () {
  if (existsSync(benchPython)) return true
  log('creating .venv-bench (FastAPI baseline, benchmarks only)')
  const mk = spawnSync('python3', ['-m', 'venv', join(root, '.venv-bench')], { stdio: 'inherit' })
  if (mk.status !== 0) return false
  const pip = spawnSync(benchPython, ['-m', 'pip', 'install', '-q', '--disable-pip-version-check', '-r', join(here, 'python', 'requirements.txt'), '-e', join(root, 'python')], { stdio: 'inherit' })
  return pip.status === 0
}

function inProcess (runs, words) {
  const res = spawnSync(venvPython, [join(here, 'python', 'inprocess.py'), '--runs', String(runs), '--words', String(words)], { encoding: 'utf8', timeout: 300_000 })
  if (res.status !== 0) throw new Error(`inprocess.py failed: ${res.stderr}`)
  return JSON.parse(res.stdout.trim().split('\n').at(-1))
}

async function startFastApi () {
  // Port 0: the OS picks a free one and the server prints it (READY <port>).
  const child = spawn(benchPython, [join(here, 'python', 'fastapi_server.py'), '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] })
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('fastapi did not start')), 60_000)
    child.stdout.on('data', (d) => { const m = /READY (\d+)/.exec(d.toString()); if (m) { clearTimeout(timer); resolve(Number(m[1])) } })
    child.once('exit', (code) => reject(new Error(`fastapi exited ${code}`)))
  })
  return {
    url: `ws://127.0.0.1:${port}/ws`,
    stats: async () => (await fetch(`http://127.0.0.1:${port}/stats`)).json(),
    stop: async () => { child.kill('SIGTERM'); await new Promise((resolve) => child.once('exit', resolve)) }
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

async function bridge (load) {
  if (!ensureBenchVenv()) return { skipped: 'could not create .venv-bench' }
  const out = { runs: {} }
  for (const runs of sizes.bridgeRuns) {
    const row = {}
    row['AutoGen in-process (ceiling)'] = await repeat(() => {
      const r = inProcess(runs, sizes.bridgeWords)
      // Time to first token from the start of all runs, as the servers' is from the client's start.
      return { tokensPerS: r.tokens_per_s, ttftMs: (r.ttft_from_gather_ms ?? r.ttft_ms).p50, cpuUsPerToken: r.us_per_token }
    })
    row.plugin = await repeat(() => withServer('plugin', { python: true }, async (server) => {
      await warmUp(load, server, 'frames', 500)
      const before = await server.stats()
      const workerCpu0 = cpuOfPids(before.workers.map((w) => w.pid))
      const res = await load.run({ kind: 'streams', url: server.url, flavour: 'frames', streams: runs, tokens: sizes.bridgeWords, rate: 0, pauseMs: 0, latency: false, timeoutMs: 300_000 })
      const after = await server.stats()
      const cpu = after.cpuUs - before.cpuUs + cpuOfPids(after.workers.map((w) => w.pid)) - workerCpu0
      return { tokensPerS: res.tokensPerS, ttftMs: res.ttftMs.p50, cpuUsPerToken: cpu / res.tokens, complete: res.tokens === res.expectedTokens ? 1 : 0 }
    }))
    row['FastAPI + uvicorn, await send_json per event'] = await repeat(async () => {
      const server = await startFastApi()
      try {
        await warmUp(load, server, 'events', 500)
        const before = await server.stats()
        const res = await load.run({ kind: 'streams', url: server.url, flavour: 'events', streams: runs, tokens: sizes.bridgeWords, rate: 0, pauseMs: 0, latency: false, timeoutMs: 300_000 })
        const after = await server.stats()
        return { tokensPerS: res.tokensPerS, ttftMs: res.ttftMs.p50, cpuUsPerToken: (after.cpu_s - before.cpu_s) * 1e6 / res.tokens, complete: res.tokens === res.expectedTokens ? 1 : 0 }
      } finally { await server.stop() }
    })
    out.runs[runs] = row
    log(`bridge ${runs} runs: in-process ${fmt(row['AutoGen in-process (ceiling)'].tokensPerS.median)} tok/s, plugin ${fmt(row.plugin.tokensPerS.median)} tok/s (ttft ${fmt(row.plugin.ttftMs.median)} ms), fastapi ${fmt(row['FastAPI + uvicorn, await send_json per event'].tokensPerS.median)} tok/s`)
  }
  // Stalled clients: worker memory over time while nothing is read.
  out.stalled = await withServer('plugin', { python: true }, async (server) => {
    const base = await server.stats()
    const timeline = []
    const t0 = Date.now()
    const progress = { resumed: false }
    load.child.once('message', (m) => { if (m.type === 'resuming') progress.resumed = true })
    const resP = load.run({ kind: 'streams', url: server.url, flavour: 'frames', streams: sizes.bridgeStallRuns, tokens: 200_000, rate: 0, pauseMs: sizes.bridgeStallSeconds * 1000, dropAfterPause: true, latency: false, timeoutMs: 120_000 })
    while (!progress.resumed) {
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

// --------------------------------------------------------------------- main

const started = Date.now()
function log (msg) { console.log(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${msg}`) }
function fmt (n) {
  const v = typeof n === 'object' && n !== null ? n.median : n
  return typeof v === 'number' ? (Math.abs(v) >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(2)) : String(v)
}

const pythonVersion = spawnSync(existsSync(venvPython) ? venvPython : 'python3', ['-c', 'import sys; print(sys.version.split()[0])'], { encoding: 'utf8' }).stdout.trim()
const results = {
  quick,
  repetitions: REPS,
  machine: { cores: cpus().length, cpu: cpus()[0]?.model, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version, python: pythonVersion, date: new Date().toISOString() },
  sizes,
  scenarios: {},
  // Which run measured each scenario: with --merge, the kept ones were measured by an earlier run, maybe on another machine.
  measuredOn: {}
}
const scenarios = { throughput, latency, slowConsumers, idleConnections, bridge, resume }
// --merge: keep the other scenarios of the existing results file (with --only).
mkdirSync(join(here, 'results'), { recursive: true })
const file = join(here, 'results', quick ? 'quick.json' : 'latest.json')
if (args.includes('--merge') && existsSync(file)) {
  const previous = JSON.parse(readFileSync(file, 'utf8'))
  results.scenarios = previous.scenarios
  for (const name of Object.keys(previous.scenarios)) results.measuredOn[name] = previous.measuredOn?.[name] ?? previous.machine
}
const load = await startLoad()
try {
  for (const [name, fn] of Object.entries(scenarios)) {
    if (only !== undefined && !only.includes(name)) continue
    log(`== ${name}`)
    results.scenarios[name] = await fn(load)
    results.measuredOn[name] = results.machine
    // Saved after every scenario: a failure later loses nothing measured.
    writeFileSync(file, JSON.stringify(results, null, 2) + '\n')
  }
} finally {
  load.stop()
}
results.seconds = (Date.now() - started) / 1000
writeFileSync(file, JSON.stringify(results, null, 2) + '\n')
log(`wrote ${file}`)
if (!quick || !existsSync(join(here, 'results', 'latest.json'))) writeReport(results, root)
log(`done in ${results.seconds.toFixed(1)} s`)
