import type * as PromClient from 'prom-client'
import { ErrorTable } from './errors.js'
import type { RunFigures } from './directory.js'
import type { MetricsRegistry, RunObserver } from './observe.js'
import type { Counters, EventCounts } from './stats.js'
import { CANCEL_REASONS } from './schemas/frames.js'

/*
 * Prometheus metrics through the app's prom-client Registry (the `metrics`
 * option). prom-client is imported here, and this module is imported by
 * the plugin only when that option is given: without it nothing of this
 * costs anything.
 *
 * The hot path never calls prom-client. What the plugin already counts
 * (Counters, the run figures of the live view, EventCounts) is read in the
 * metrics' collect() at scrape time; what is per run (outcome, time to
 * first token, duration) is observed once per run through a RunProbe.
 *
 * Metrics are shared per registry (a WeakMap), labelled by `route`: two
 * registrations of the plugin (several routes) on one registry add a
 * source each instead of registering the same names twice.
 */

export type MetricType = 'counter' | 'gauge' | 'histogram'

export interface MetricSpec {
  name: string
  type: MetricType
  labels: readonly string[]
  help: string
}

/** Every metric the plugin registers, in the order docs/metrics.md lists them (a test holds the doc to this table). */
export const PLUGIN_METRICS = [
  { name: 'autogen_stream_connections_open', type: 'gauge', labels: ['route'], help: 'Open WebSocket connections.' },
  { name: 'autogen_stream_connections_opened_total', type: 'counter', labels: ['route'], help: 'WebSocket connections opened (upgrades accepted).' },
  { name: 'autogen_stream_runs_active', type: 'gauge', labels: ['route'], help: 'Runs started and not ended, queued ones included.' },
  { name: 'autogen_stream_runs_queued', type: 'gauge', labels: ['route'], help: 'Of the active runs, those waiting for a slot (maxActiveRuns) or a worker.' },
  { name: 'autogen_stream_runs_detached', type: 'gauge', labels: ['route'], help: 'Of the active runs, those no connection reads.' },
  { name: 'autogen_stream_runs_retained', type: 'gauge', labels: ['route'], help: 'Ended runs whose log is kept for attach (retainAfterEnd).' },
  { name: 'autogen_stream_run_log_bytes', type: 'gauge', labels: ['route'], help: 'Bytes of frames held in run logs.' },
  { name: 'autogen_stream_runs_started_total', type: 'counter', labels: ['route'], help: 'Runs started (accepted start frames).' },
  { name: 'autogen_stream_runs_finished_total', type: 'counter', labels: ['route', 'outcome', 'reason', 'code'], help: 'Runs ended, by outcome (result, cancelled, error), cancel reason and error code.' },
  { name: 'autogen_stream_tokens_sent_total', type: 'counter', labels: ['route'], help: 'Streamed chunks (tokens) written to sockets, merged ones counted one by one.' },
  { name: 'autogen_stream_frames_sent_total', type: 'counter', labels: ['route'], help: 'Frames written to sockets.' },
  { name: 'autogen_stream_sent_bytes_total', type: 'counter', labels: ['route'], help: 'Bytes of frames written to sockets.' },
  { name: 'autogen_stream_slow_consumer_closes_total', type: 'counter', labels: ['route'], help: 'Connections closed with 4008 (AGS_SLOW_CONSUMER): the client did not read for stallTimeout.' },
  { name: 'autogen_stream_lagging_detaches_total', type: 'counter', labels: ['route'], help: 'Runs a slow watcher was detached from (`detached`, reason lagging) while others read on.' },
  { name: 'autogen_stream_resume_attaches_total', type: 'counter', labels: ['route'], help: 'attach frames answered with `attached`.' },
  { name: 'autogen_stream_resume_gaps_total', type: 'counter', labels: ['route'], help: 'attach frames answered with AGS_RESUME_GAP (the frames after `after` were no longer kept).' },
  { name: 'autogen_stream_model_tokens_total', type: 'counter', labels: ['route', 'type'], help: 'Tokens the runs\' models reported (the usage of their terminal frames), by type: prompt or completion.' },
  { name: 'autogen_stream_time_to_first_token_seconds', type: 'histogram', labels: ['route'], help: 'From a run\'s start frame to its first token in the run\'s log (queue time included).' },
  { name: 'autogen_stream_run_duration_seconds', type: 'histogram', labels: ['route', 'outcome'], help: 'From a run\'s start frame to its terminal frame in the run\'s log.' }
] as const satisfies readonly MetricSpec[]

/** From 5 ms (a cached or local model) to a minute (a large prompt behind a queue). */
export const TTFT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]
/** From 100 ms to 30 min (multi-agent teams with tools and humans in the loop). */
export const DURATION_BUCKETS = [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800]

/** Error codes of apps (RunError) and workers are kept as labels up to this many distinct ones; more are `other`. */
const MAX_FOREIGN_CODES = 64

/** What one registration of the plugin gives its metrics to read. */
export interface MetricSource {
  route: string
  counters: Counters
  events: EventCounts
  connections: () => number
  figures: () => RunFigures
}

type PluginMetricName = typeof PLUGIN_METRICS[number]['name']

interface Shared {
  sources: Set<MetricSource>
  /** The value of each mirrored count at the last scrape, per source: counters go up by the difference. */
  seen: Map<MetricSource, Map<string, number>>
  finished: PromClient.Counter<string>
  ttft: PromClient.Histogram<string>
  duration: PromClient.Histogram<string>
  modelTokens: PromClient.Counter<string>
  foreignCodes: Set<string>
}

const byRegistry = new WeakMap<object, Shared>()

/** Loads prom-client (an optional peer) with a clear error when it is missing. */
export async function loadPromClient (): Promise<typeof PromClient> {
  try {
    const loaded = await import('prom-client') as typeof PromClient & { default?: typeof PromClient }
    // CommonJS seen from ESM: the named exports, or the module object as default.
    return typeof loaded.Counter === 'function' ? loaded : loaded.default as typeof PromClient
  } catch (err) {
    throw new Error('fastify-autogen-stream: the "metrics" option needs prom-client; install it (npm install prom-client)', { cause: err })
  }
}

/**
 * Registers the plugin's metrics on `registry` (once per registry) and adds
 * this registration as a source. Returns the run observer (outcomes,
 * histograms) and a function that removes the source (fastify.close()).
 */
export function registerPluginMetrics (client: typeof PromClient, registry: MetricsRegistry, source: MetricSource): { observer: RunObserver, remove: () => void } {
  // A registry the app cleared (registry.clear()) gets the metrics again.
  const known = byRegistry.get(registry)
  const shared = known !== undefined && registry.getSingleMetric(PLUGIN_METRICS[0].name) !== undefined ? known : createShared(client, registry)
  shared.sources.add(source)
  shared.seen.set(source, new Map())
  const { route } = source
  const observer: RunObserver = {
    run () {
      const startedAt = performance.now()
      return {
        firstToken () {
          shared.ttft.observe({ route }, (performance.now() - startedAt) / 1000)
        },
        ended (terminal) {
          const outcome = terminal.type
          const reason = terminal.type === 'cancelled' ? terminal.reason : ''
          const code = terminal.type === 'error' ? codeLabel(shared, terminal.code) : ''
          shared.finished.inc({ route, outcome, reason, code })
          shared.duration.observe({ route, outcome }, (performance.now() - startedAt) / 1000)
          if (terminal.usage !== undefined) {
            shared.modelTokens.inc({ route, type: 'prompt' }, terminal.usage.prompt_tokens)
            shared.modelTokens.inc({ route, type: 'completion' }, terminal.usage.completion_tokens)
          }
        }
      }
    }
  }
  return {
    observer,
    remove () {
      shared.sources.delete(source)
      shared.seen.delete(source)
    }
  }
}

/** A bounded label for an error code: the product's own codes as they are, others up to MAX_FOREIGN_CODES. */
function codeLabel (shared: Shared, code: string): string {
  if (Object.hasOwn(ErrorTable, code) || shared.foreignCodes.has(code)) return code
  if (shared.foreignCodes.size >= MAX_FOREIGN_CODES || !/^[A-Za-z][A-Za-z0-9_.-]{0,63}$/.test(code)) return 'other'
  shared.foreignCodes.add(code)
  return code
}

function createShared (client: typeof PromClient, registry: MetricsRegistry): Shared {
  const registers = [registry as unknown as PromClient.Registry]
  const spec = (name: PluginMetricName): { name: string, help: string, labelNames: string[], registers: PromClient.Registry[] } => {
    const s = PLUGIN_METRICS.find((m) => m.name === name) as MetricSpec
    return { name: s.name, help: s.help, labelNames: [...s.labels], registers }
  }
  const sources = new Set<MetricSource>()
  const seen = new Map<MetricSource, Map<string, number>>()

  const gauge = (name: PluginMetricName, read: (s: MetricSource) => number): void => {
    // eslint-disable-next-line no-new
    new client.Gauge({
      ...spec(name),
      collect () {
        this.reset()
        for (const s of sources) this.set({ route: s.route }, read(s))
      }
    })
  }
  /** A counter that mirrors a count the plugin keeps: it goes up by what the count went up since the last scrape. */
  const mirror = (name: PluginMetricName, read: (s: MetricSource) => number): void => {
    // eslint-disable-next-line no-new
    new client.Counter({
      ...spec(name),
      collect () {
        for (const s of sources) {
          const last = seen.get(s)
          if (last === undefined) continue
          const value = read(s)
          const delta = value - (last.get(name) ?? 0)
          last.set(name, value)
          // Touched even at 0, so every route shows a series from its first scrape.
          this.inc({ route: s.route }, Math.max(delta, 0))
        }
      }
    })
  }

  gauge('autogen_stream_connections_open', (s) => s.connections())
  mirror('autogen_stream_connections_opened_total', (s) => s.events.connectionsOpened)
  gauge('autogen_stream_runs_active', (s) => s.figures().active)
  gauge('autogen_stream_runs_queued', (s) => s.figures().queued)
  gauge('autogen_stream_runs_detached', (s) => s.figures().detached)
  gauge('autogen_stream_runs_retained', (s) => s.figures().retained)
  gauge('autogen_stream_run_log_bytes', (s) => s.figures().logBytes)
  mirror('autogen_stream_runs_started_total', (s) => s.counters.runsStarted)
  const finished = new client.Counter(spec('autogen_stream_runs_finished_total'))
  mirror('autogen_stream_tokens_sent_total', (s) => s.counters.tokens)
  mirror('autogen_stream_frames_sent_total', (s) => s.counters.frames)
  mirror('autogen_stream_sent_bytes_total', (s) => s.counters.bytes)
  mirror('autogen_stream_slow_consumer_closes_total', (s) => s.events.slowConsumerCloses)
  mirror('autogen_stream_lagging_detaches_total', (s) => s.events.laggingDetaches)
  mirror('autogen_stream_resume_attaches_total', (s) => s.events.resumeAttaches)
  mirror('autogen_stream_resume_gaps_total', (s) => s.events.resumeGaps)
  const modelTokens = new client.Counter(spec('autogen_stream_model_tokens_total'))
  const ttft = new client.Histogram({ ...spec('autogen_stream_time_to_first_token_seconds'), buckets: TTFT_BUCKETS })
  const duration = new client.Histogram({ ...spec('autogen_stream_run_duration_seconds'), buckets: DURATION_BUCKETS })

  const shared: Shared = { sources, seen, finished, ttft, duration, modelTokens, foreignCodes: new Set() }
  byRegistry.set(registry, shared)
  return shared
}

/** The label values runs_finished_total may take besides error codes: a closed set. */
export const OUTCOMES = ['result', 'cancelled', 'error', 'interrupted'] as const
export const REASONS = ['', ...CANCEL_REASONS] as const
