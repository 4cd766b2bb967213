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

/** A ModelClientStreamingChunkEvent whose content carries the time it was produced. */
export function chunkEvent (runId, i) {
  return {
    id: `${runId}-${i}`,
    source: 'assistant',
    models_usage: null,
    metadata: {},
    created_at: '2026-01-01T00:00:00Z',
    content: `${now().toFixed(3)};`,
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
    if (interval > 0) {
      const due = start + i * interval
      const wait = due - now()
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
    }
    pulled.set(runId, i + 1)
    yield chunkEvent(runId, i)
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

export function pulledSummary () {
  const values = [...pulled.values()]
  return { pulledMax: values.length ? Math.max(...values) : 0, pulledTotal: values.reduce((a, b) => a + b, 0) }
}
