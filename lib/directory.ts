import type { Attachment } from './attachment.js'
import type { FastifyBaseLogger } from 'fastify'
import type { AutogenStreamError } from './errors.js'
import type { Config } from './options.js'
import type { Counters } from './stats.js'
import type { LeaveReason, StartParams } from './runs.js'
import type { CancelReason, ProtocolVersion, RunSummary, ThreadInfoFrame } from './schemas/frames.js'
import type { ThreadDeletion } from './store/types.js'

/*
 * What a connection needs of runs, whoever holds them:
 *
 *   Connection ──► RunDirectory.start / find / list ──► SharedRun
 *                                                        ├ attach → Attachment (its LogReader)
 *                                                        └ cancel / requestStop / answer / leave
 *
 * `Runs` (runs.ts) holds runs in this process, over the memory store; the
 * Redis directory (redis/) holds none: runs are on worker hosts, their logs
 * in Redis. A call that must ask the store first returns a promise: the
 * connection reads no further frame until it settles, so a client's frames
 * are still handled in order.
 */

export type Awaitable<T> = T | Promise<T>

/**
 * `next` of a value that may come later: at once (synchronously) when it is
 * already there, so a store that answers at once (memory) keeps every step
 * in the same turn, as before stores could answer later (Redis).
 */
export function after<T, U> (value: Awaitable<T>, next: (value: T) => Awaitable<U>): Awaitable<U> {
  return value instanceof Promise ? value.then(next) : next(value)
}

export interface AttachOptions {
  version: ProtocolVersion
  /** The connection that started the run: its `started` carries the resume token. */
  starter: boolean
  /** Wakes the connection's sender: frames are there to read. */
  notify: () => void
  /** This watcher held the run at maxRunLag for stallTimeout while another kept up. */
  onLagging: () => void
}

export interface SharedRun {
  readonly runId: string
  readonly ended: boolean
  /** Connections reading it (on this server). */
  readonly watchers: number
  /** Cancel when the last watcher disconnects (onDisconnect 'cancel', or a v1 starter). */
  readonly cancelOnDisconnect: boolean
  /** Not started yet (queued for a slot or a worker). */
  readonly waiting: boolean
  /** The newest seq in the log. */
  readonly head: number
  /** The oldest seq the log keeps. */
  readonly oldest: number
  /** Reads from after `after`; throws LogGapError when that is older than what is kept. */
  attach: (after: number, opts: AttachOptions) => Attachment | AutogenStreamError
  leave: (attachment: Attachment, reason: LeaveReason) => void
  cancel: (reason: CancelReason) => boolean
  /** False when the run has no step left to stop at (it has ended). */
  requestStop: () => boolean
  /** False when the run does not wait for that request (anymore): the first answer wins. */
  answer: (requestId: string, content: string) => Awaitable<boolean>
}

export interface RunFigures {
  /** Not ended: running, or queued for a slot or a worker. */
  active: number
  attached: number
  detached: number
  /** Of the active ones, those not started yet. */
  queued: number
  retained: number
  logBytes: number
  /** Threads kept in this process (docs/protocol.md, Threads); 0 where they are kept elsewhere (Redis) or not at all. */
  threads: number
}

export interface RunDirectory {
  start: (params: StartParams) => Awaitable<SharedRun | AutogenStreamError>
  /** The run `runId` of this identity, or the one the token names (the same answer for none and not yours). */
  find: (identityId: string, runId: string, resumeToken?: string) => Awaitable<SharedRun | undefined>
  list: (identityId: string) => Awaitable<RunSummary[]>
  /** Threads of identities (docs/protocol.md, Threads); absent where the store keeps none: a start with a threadId is then AGS_THREAD_UNSUPPORTED. */
  threads?: ThreadDirectory
  figures: () => RunFigures
  /** app.ready(): connected to its store (a store that cannot be reached yet is logged, not fatal: starts get AGS_STORE_UNAVAILABLE until it can). */
  ready?: () => Promise<void>
  /** fastify.close(): every run this server holds is cancelled (`shutdown`). */
  shutdown: () => void
  /** After the runner closed: timers and maps go. */
  clear: () => void
}

/** What connections ask of threads, wherever they are kept (a promise when the store answers later: Redis). */
export interface ThreadDirectory {
  /** The thread `threadId` of this identity; undefined alike for none and another identity's. */
  info: (identityId: string, threadId: string) => Awaitable<ThreadInfoFrame | undefined>
  /** Forgets an idle thread of this identity; `busy` names its active run. */
  delete: (identityId: string, threadId: string) => Awaitable<ThreadDeletion>
  /** Forgets every thread of an identity that cannot come back (an anonymous one, its connection closed). */
  forgetOwner: (identityId: string) => Awaitable<void>
}

export interface DirectoryContext { config: Config, counters: Counters, log: FastifyBaseLogger }

/** What the `runs` option takes (e.g. `redisRuns({ url })`): the plugin makes the directory at registration. */
export interface RunsFactory {
  readonly kind: string
  create: (context: DirectoryContext) => RunDirectory
}
