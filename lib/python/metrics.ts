import type * as PromClient from 'prom-client'
import type { MetricsRegistry } from '../observe.js'
import type { MetricSpec } from '../metrics.js'
import type { WorkerPool } from './pool.js'

/*
 * The bridge's metrics, registered by pythonRunner's `metrics` hook, which
 * the plugin calls with the app's registry and the prom-client it loaded
 * (the core never imports lib/python; this never imports prom-client).
 * Every value is read from the pools at scrape time; several runners on one
 * registry add up (one set of metrics per registry).
 */

export const PYTHON_METRICS = [
  { name: 'autogen_stream_python_workers', type: 'gauge', labels: ['state'], help: 'Python worker processes, by state: ready (serving) or starting (spawned, importing AutoGen and the factory).' },
  { name: 'autogen_stream_python_worker_runs', type: 'gauge', labels: [], help: 'Runs the Python workers serve, as Node sees them.' },
  { name: 'autogen_stream_python_worker_restarts_total', type: 'counter', labels: [], help: 'Python worker processes that exited (crashed, killed, failed to start) and were replaced.' },
  { name: 'autogen_stream_python_credit_stalls_total', type: 'counter', labels: [], help: 'Times a run\'s worker used up its credit (pythonRunner credit) and had to wait for Node: the client, or the run\'s log, did not keep up.' }
] as const satisfies readonly MetricSpec[]

/** What the pool counts for these metrics: plain increments, where they happen. */
export interface BridgeCounts {
  restarts: number
  creditStalls: number
}

export function createBridgeCounts (): BridgeCounts {
  return { restarts: 0, creditStalls: 0 }
}

const pools = new WeakMap<object, Set<WorkerPool>>()

export function registerBridgeMetrics (pool: WorkerPool, registry: MetricsRegistry, promClient: unknown): void {
  let mine = pools.get(registry)
  if (mine !== undefined && registry.getSingleMetric(PYTHON_METRICS[0].name) !== undefined) {
    mine.add(pool)
    return
  }
  mine = new Set([pool])
  pools.set(registry, mine)
  const all = mine
  const client = promClient as typeof PromClient
  const registers = [registry as unknown as PromClient.Registry]
  const spec = (i: number): { name: string, help: string, labelNames: string[], registers: PromClient.Registry[] } => {
    const s = PYTHON_METRICS[i] as MetricSpec
    return { name: s.name, help: s.help, labelNames: [...s.labels], registers }
  }
  // eslint-disable-next-line no-new
  new client.Gauge({
    ...spec(0),
    collect () {
      let ready = 0
      let starting = 0
      for (const p of all) {
        for (const w of p.workers) {
          if (w.exited) continue
          if (w.isReady) ready++
          else starting++
        }
      }
      this.set({ state: 'ready' }, ready)
      this.set({ state: 'starting' }, starting)
    }
  })
  // eslint-disable-next-line no-new
  new client.Gauge({
    ...spec(1),
    collect () {
      let runs = 0
      for (const p of all) for (const w of p.workers) runs += w.load
      this.set(runs)
    }
  })
  const seen = new WeakMap<WorkerPool, BridgeCounts>()
  const mirror = (i: number, key: keyof BridgeCounts): void => {
    // eslint-disable-next-line no-new
    new client.Counter({
      ...spec(i),
      collect () {
        let delta = 0
        for (const p of all) {
          let last = seen.get(p)
          if (last === undefined) seen.set(p, last = createBridgeCounts())
          delta += p.counts[key] - last[key]
          last[key] = p.counts[key]
        }
        this.inc(delta)
      }
    })
  }
  mirror(2, 'restarts')
  mirror(3, 'creditStalls')
}
