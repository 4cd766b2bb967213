import type { RunFigures } from './directory.js'

/** Counters kept by the plugin; mutated in place on the hot path. */
export interface Counters {
  connections: number
  runsStarted: number
  frames: number
  tokens: number
  bytes: number
  cancels: number
  errors: number
}

/** What `fastify.autogenStream` shows: read-only, live. */
export interface AutogenStreamView {
  /** Open WebSocket connections on this route. */
  readonly connections: number
  /** Runs that have started and not yet ended (their terminal frame is not in their log yet). */
  readonly runs: number
  /** Of those, runs that at least one connection reads. */
  readonly runsAttached: number
  /** Of those, runs that nobody reads (they go on up to maxRunLag, until detachTimeout). */
  readonly runsDetached: number
  /** Ended runs whose log is kept for attach (retainAfterEnd). */
  readonly runsRetained: number
  /** Bytes of frames held in run logs (unread lag and the tail kept for resume). */
  readonly logBytes: number
  /** Threads kept in this process, of every identity (docs/protocol.md, Threads); 0 on a Redis gateway (they are in Redis). */
  readonly threads: number
  /** Totals since the plugin started. */
  readonly counters: Readonly<Counters>
}

export function createCounters (): Counters {
  return { connections: 0, runsStarted: 0, frames: 0, tokens: 0, bytes: 0, cancels: 0, errors: 0 }
}

export function createView (counters: Counters, live: { connections: () => number, runs: () => RunFigures }): AutogenStreamView {
  const frozenCounters = Object.freeze(Object.create(null, Object.fromEntries(
    Object.keys(counters).map((key) => [key, { enumerable: true, get: () => counters[key as keyof Counters] }])
  ))) as Readonly<Counters>
  return Object.freeze({
    get connections () { return live.connections() },
    get runs () { return live.runs().active },
    get runsAttached () { return live.runs().attached },
    get runsDetached () { return live.runs().detached },
    get runsRetained () { return live.runs().retained },
    get logBytes () { return live.runs().logBytes },
    get threads () { return live.runs().threads },
    counters: frozenCounters
  })
}

/**
 * Rare events counted for metrics only (not in the view): each is a plain
 * increment where it happens, read by a metric's collect() at scrape time.
 */
export interface EventCounts {
  /** Connections opened since the plugin started. */
  connectionsOpened: number
  /** Connections closed with 4008 because the client did not read. */
  slowConsumerCloses: number
  /** Connections let go of runs others read, because they lagged. */
  laggingDetaches: number
  /** `attach` frames answered with `attached` (a resume, or a second watcher). */
  resumeAttaches: number
  /** `attach` frames answered with AGS_RESUME_GAP. */
  resumeGaps: number
}

export function createEventCounts (): EventCounts {
  return { connectionsOpened: 0, slowConsumerCloses: 0, laggingDetaches: 0, resumeAttaches: 0, resumeGaps: 0 }
}
