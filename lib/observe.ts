import type { FastifyRequest } from 'fastify'
import type { TerminalFrame } from './schemas/frames.js'

/*
 * What the core tells observers (Prometheus metrics, OpenTelemetry spans)
 * about runs, with no dependency on either: metrics.ts and tracing.ts are
 * loaded only when the app asks for them, and give the core a RunObserver.
 *
 *   Runs.start ──observer.run()──> RunProbe ──firstToken()──> … ──ended(terminal, tokens)
 *
 * Calls are per run (and one per run's first token), never per token: the
 * run's token count is kept by the run and handed over at its end.
 */

export interface RunInfo {
  /** The client's id for the run: a span attribute, never a metric label. */
  runId: string
  /** The server's key for the run. */
  key: string
  /** The upgrade request of the connection that started the run. */
  request: FastifyRequest
}

/** One run, seen by the observers. */
export interface RunProbe {
  /** The run's first token is in its log. */
  firstToken: () => void
  /** The run's terminal frame is in its log; `tokens`: chunks it streamed. */
  ended: (terminal: TerminalFrame, tokens: number) => void
}

export interface RunObserver {
  /** A run was accepted (before it waits for a slot, if it does). */
  run: (info: RunInfo) => RunProbe
}

/** Several observers as one (undefined when there are none: the core then skips every call). */
export function combineObservers (observers: Array<RunObserver | undefined>): RunObserver | undefined {
  const all = observers.filter((o) => o !== undefined)
  if (all.length === 0) return undefined
  if (all.length === 1) return all[0]
  return {
    run (info) {
      const probes = all.map((o) => o.run(info))
      return {
        firstToken () { for (const p of probes) p.firstToken() },
        ended (terminal, tokens) { for (const p of probes) p.ended(terminal, tokens) }
      }
    }
  }
}

/**
 * A prom-client `Registry` (the `metrics` option), by the shape the plugin
 * uses: typed without importing prom-client, an optional peer.
 */
export interface MetricsRegistry {
  registerMetric (metric: any): void
  getSingleMetric (name: string): unknown
  metrics (): Promise<string>
  readonly contentType: string
}

/**
 * Whether `value` looks like a prom-client Registry (checked by shape,
 * without importing prom-client: an app may hold another copy of it).
 */
export function isRegistry (value: unknown): value is MetricsRegistry {
  const r = value as Record<string, unknown> | null
  return typeof r === 'object' && r !== null && typeof r.registerMetric === 'function' &&
    typeof r.getSingleMetric === 'function' && typeof r.metrics === 'function' && typeof r.contentType === 'string'
}
