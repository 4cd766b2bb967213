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
  /** Runs that have started and not yet sent their last frame. */
  readonly runs: number
  /** Totals since the plugin started. */
  readonly counters: Readonly<Counters>
}

export function createCounters (): Counters {
  return { connections: 0, runsStarted: 0, frames: 0, tokens: 0, bytes: 0, cancels: 0, errors: 0 }
}

export function createView (counters: Counters, live: { connections: () => number, runs: () => number }): AutogenStreamView {
  const frozenCounters = Object.freeze(Object.create(null, Object.fromEntries(
    Object.keys(counters).map((key) => [key, { enumerable: true, get: () => counters[key as keyof Counters] }])
  ))) as Readonly<Counters>
  return Object.freeze({
    get connections () { return live.connections() },
    get runs () { return live.runs() },
    counters: frozenCounters
  })
}
