// Shared by the benchmark servers: IPC with the orchestrator (ready, stats,
// stop) and the synthetic AutoGen runner. Every server is a child process
// forked by benchmarks/run.js and listens on 127.0.0.1 only.
import { readFileSync } from 'node:fs'

export const config = JSON.parse(process.env.BENCH_CONFIG ?? '{}')

/**
 * The plugin's options in every benchmark server (in-process or gateway): a
 * load test is one client with thousands of streams, so the server-wide
 * limits would be what it measures.
 */
export const loadTestOptions = {
  coalesceTokens: config.coalesce !== false,
  maxRunsPerConnection: 64,
  maxConnections: 0,
  maxConnectionsPerIp: 0,
  frameRate: 0,
  maxActiveRuns: 0,
  maxRunsPerIdentity: 0,
  stallTimeout: 0,
  pingInterval: 0
}

/**
 * Milliseconds on CLOCK_MONOTONIC, which every process on the machine shares:
 * performance.timeOrigin is set per process with about a millisecond of
 * error, too coarse for cross-process latency.
 */
export function now () {
  const [s, ns] = process.hrtime()
  return s * 1e3 + ns / 1e6
}

/**
 * A ModelClientStreamingChunkEvent whose content carries the time it was
 * produced: `<yielded>;` (the runner yielded it), or for a paced runner
 * `<yielded>@<due>;`, where due is the time it was scheduled for (the
 * start of the run plus i / rate). The load generator measures latency from
 * both (benchmarks/load.js): from `due`, a server that is late to run its
 * timers (busy with other streams) pays for it; from `yielded`, it does not.
 */
export function chunkEvent (runId, i, due) {
  return {
    id: `${runId}-${i}`,
    source: 'assistant',
    models_usage: null,
    metadata: {},
    created_at: '2026-01-01T00:00:00Z',
    content: due === undefined ? `${now().toFixed(3)};` : `${now().toFixed(3)}@${due.toFixed(3)};`,
    full_message_id: `${runId}-m${i >> 10}`,
    type: 'ModelClientStreamingChunkEvent'
  }
}

export const taskResult = { type: 'TaskResult', messages: [], stop_reason: 'done' }

/** Pulled events per run, for the slow-consumer scenario. */
export const pulled = new Map()

/**
 * The synthetic runner: `tokens` chunks, as fast as it can (rate 0) or at
 * `rate` tokens per second, then a TaskResult.
 */
export async function * syntheticRun (runId, tokens, rate, signal) {
  pulled.set(runId, 0)
  const interval = rate > 0 ? 1000 / rate : 0
  const start = now()
  for (let i = 0; i < tokens; i++) {
    if (signal?.aborted) return
    let due
    if (interval > 0) {
      due = start + i * interval
      // Never before it is due: a timer armed late in a busy turn of the
      // event loop counts from that turn's start (libuv's cached clock), so
      // it may fire a little early; then it waits again.
      for (let wait = due - now(); wait > 0; wait = due - now()) await new Promise((resolve) => setTimeout(resolve, wait))
    }
    pulled.set(runId, i + 1)
    yield chunkEvent(runId, i, due)
  }
  yield taskResult
}

export function rssOf (pid) {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8')
    const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0)
    return kb * 1024
  } catch {
    return 0
  }
}

/** Answers the orchestrator's requests; `extra()` adds server-specific figures. */
export function serve (port, extra = () => ({}), stop = async () => {}) {
  process.on('message', async (msg) => {
    if (msg.type === 'stats') {
      if (msg.gc && typeof globalThis.gc === 'function') { globalThis.gc(); globalThis.gc() }
      const cpu = process.cpuUsage()
      // mem.external already includes mem.arrayBuffers (Buffers).
      const mem = process.memoryUsage()
      process.send({ type: 'stats', id: msg.id, rss: mem.rss, heapUsed: mem.heapUsed, external: mem.external, cpuUs: cpu.user + cpu.system, ...(await extra()) })
    } else if (msg.type === 'stop') {
      await stop()
      process.exit(0)
    }
  })
  process.send({ type: 'ready', port })
}

/**
 * Diagnostics (BENCH_CONFIG.trace): for every token frame, the time from the
 * timestamp in its chunk to the server's ws.send() call, and to the moment
 * its bytes were handed to the kernel (the end of the socket's _write or
 * _writev, where libuv writes synchronously). Each server calls
 * traceSocket(ws) on its connections; stats() reports the percentiles.
 */
const trace = config.trace === true ? { send: [], write: [], batch: [], held: [0, 0], counted: [0, 0] } : null
/** A frame slower than this from the yield to ws.send() counts as held (trace.held: how many, of seq % 64 === 0 and of the others). */
const HELD_MS = 1

export function traceSocket (ws) {
  if (trace === null) return
  const raw = ws._socket
  const pending = []
  const send = ws.send
  ws.send = function (data, ...rest) {
    const t = now()
    const text = typeof data === 'string' ? data : data.toString('latin1', 0, 400)
    const m = /"(?:text|content)":"(\d+\.\d+)[@;]/.exec(text)
    if (m !== null) {
      const stamp = Number(m[1])
      trace.send.push(t - stamp)
      pending.push(stamp)
      // Frames held before ws.send(): those of seq % 64 === 0 apart (the plugin's sender yields to the event loop every 64 frames).
      const seq = /"seq":(\d+)/.exec(text)
      if (seq !== null) {
        const k = Number(seq[1]) % 64 === 0 ? 0 : 1
        trace.counted[k]++
        if (t - stamp > HELD_MS) trace.held[k]++
      }
    }
    return send.call(this, data, ...rest)
  }
  for (const name of ['_write', '_writev']) {
    const original = raw[name]
    raw[name] = function (...args) {
      const result = original.apply(this, args)
      const t = now()
      if (pending.length > 0) trace.batch.push(pending.length)
      for (const stamp of pending) trace.write.push(t - stamp)
      pending.length = 0
      return result
    }
  }
}

function percentilesOf (values) {
  if (values.length === 0) return null
  const sorted = Float64Array.from(values).sort()
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), p999: at(0.999), count: sorted.length, mean: values.reduce((a, b) => a + b, 0) / values.length }
}

/** The trace's percentiles (ms), then cleared; null when tracing is off. */
export function traceSummary () {
  if (trace === null) return null
  const share = (k) => (trace.counted[k] === 0 ? null : trace.held[k] / trace.counted[k])
  const out = {
    stampToSendMs: percentilesOf(trace.send),
    stampToWriteMs: percentilesOf(trace.write),
    framesPerWrite: percentilesOf(trace.batch),
    // The share of frames held over HELD_MS before ws.send(): of those whose seq % 64 === 0, and of the others.
    held: { overMs: HELD_MS, seqMod64Zero: share(0), others: share(1), frames: trace.counted[0] + trace.counted[1] }
  }
  trace.send = []; trace.write = []; trace.batch = []; trace.held = [0, 0]; trace.counted = [0, 0]
  return out
}

export function pulledSummary () {
  const values = [...pulled.values()]
  return { pulledMax: values.length ? Math.max(...values) : 0, pulledTotal: values.reduce((a, b) => a + b, 0) }
}
