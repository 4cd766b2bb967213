import type { Outcome, RunFrame, TerminalFrame, Usage } from '../schemas/frames.js'

/*
 * Where a run's frames are kept between the run that makes them and the
 * connections that read them, in this process (memory.ts). Runs held in
 * Redis (redis/, docs/redis.md) keep the same shape across processes, one
 * stream per run: a LogReader there is redis/reader.ts, whose take() serves
 * a window fetched with `XRANGE run:K:log (<seq>-1 + COUNT n` (entry ids are
 * `<seq>-1`), whose commit() writes the reader's position for the worker
 * host's credit; the host appends, trims (XTRIM MINID) and expires.
 *
 * So a reader only ever asks "the entries after seq N", and the producer
 * only ever asks "how far behind is the slowest reader".
 */

/** One frame of a run, encoded once for every reader. */
export interface LogEntry {
  readonly seq: number
  readonly frame: RunFrame
  /**
   * The frame as sent on the wire (JSON): a string when the log is in this
   * process (ws writes a string straight to the socket: no Buffer made per
   * frame), a Buffer when it came from Redis.
   */
  readonly data: string | Buffer
  /** Bytes of `data` in UTF-8 (what the socket carries; what byte limits count). */
  readonly size: number
}

/** What the log holds back: unread entries (a bound on the producer) and read ones (a tail kept for resume). */
export interface LogLimits {
  /** The producer is held once this many entries are unread by the slowest reader... */
  lagEvents: number
  /** ...or this many bytes. */
  lagBytes: number
  /** Read entries kept for a resume that goes back (count and bytes; whichever is reached first trims). */
  retainEvents: number
  retainBytes: number
}

export interface LogReader {
  /** The seq of the last entry taken (-1 before the first). */
  readonly position: number
  /** The next entry, or undefined when the reader has caught up. */
  peek (): LogEntry | undefined
  /** The next entry; the log learns that the reader moved at commit(). */
  take (): LogEntry | undefined
  /**
   * Tells the log how far this reader got (once per batch of takes, not per
   * entry): what frees the producer's credit and trims the tail. (Redis:
   * one write of the reader's position per batch.)
   */
  commit (): void
  /** Skips to the terminal entry (the last frame a closing connection writes); false when the run has not ended. */
  skipToEnd (): boolean
  close (): void
}

export interface RunLog {
  /** The seq of the newest entry (-1: none yet). */
  readonly head: number
  /** The seq of the oldest entry still kept. */
  readonly oldest: number
  /** The terminal entry, once the run has ended. */
  readonly terminal: LogEntry | undefined
  /** Unread by the slowest reader (or, with none, after the furthest position ever read). */
  readonly lag: { events: number, bytes: number }
  /** Bytes of all entries kept. */
  readonly bytes: number
  readonly readers: number
  /** True while the producer may append (the lag is under its bounds, or the run has ended). */
  readonly hasCredit: boolean
  /** How many entries and bytes the producer may append before the lag reaches its bounds (<= 0: none). */
  readonly room: { events: number, bytes: number }
  append (frame: RunFrame): LogEntry
  /**
   * A reader from after `after` (-1: from the oldest entry kept). Throws
   * LogGapError when entries after it were already trimmed. `notify` is
   * called when entries arrive.
   */
  reader (after: number, notify: () => void): LogReader
  /** Called when the producer may append again (a reader moved on). */
  onCredit (fn: () => void): void
}

export class LogGapError extends Error {
  readonly oldest: number
  readonly head: number
  readonly terminal: TerminalFrame | undefined
  constructor (after: number, oldest: number, head: number, terminal: TerminalFrame | undefined) {
    super(`entries after seq ${after} are no longer kept; the oldest is ${oldest}`)
    this.oldest = oldest
    this.head = head
    this.terminal = terminal
  }
}

/** Makes and drops the logs of runs; the server's one instance is `runStore`'s. */
export interface RunStore {
  /** The log of a new run, keyed by the server's run key (never a client's runId). */
  create (key: string, limits: LogLimits): RunLog
  /** Drops a log: the run ended and its retention passed, or the server closes. */
  drop (key: string): void
  /** Bytes held by every log of this store. */
  readonly bytes: number
}

/*
 * Threads (docs/protocol.md, Threads): a conversation's saved team state
 * and its runs, kept between runs. Keyed by the owner's identity id and
 * the client's threadId together, never by the threadId alone: two
 * identities may pick the same one. memory-threads.ts keeps them in this
 * process; the Redis store keeps none yet.
 */

/** One run of a thread as its record keeps it. */
export interface ThreadRunRecord {
  runId: string
  startedAt: number
  /** Set when it ended. */
  endedAt?: number
  outcome?: Outcome
  usage?: Usage
  stateSaved?: boolean
}

export interface ThreadRecord {
  readonly threadId: string
  /** The state the last run saved, as JSON text; undefined before any. */
  state: string | undefined
  /** UTF-8 bytes of `state`. */
  stateBytes: number
  /** Oldest first, at most the last THREAD_RUNS_KEPT. */
  runs: ThreadRunRecord[]
  /** Sum of the ended runs' terminal usage. */
  usage: Usage
  readonly createdAt: number
  updatedAt: number
  /** The runId of its active run; undefined while it has none. */
  active: string | undefined
  /**
   * The question the run that saved `state` was interrupted at (its
   * `interrupted` frame): what a `start` with `answer` must name. Kept and
   * replaced with the state, never apart from it: an answer continues
   * exactly the state saved at its question.
   */
  pending?: PendingInput
}

/** An input request a thread's run was interrupted at. */
export interface PendingInput {
  requestId: string
  prompt: string
  /** Who asked (the UserProxyAgent's name), when the runner said. */
  source?: string
}

/** Runs a thread's record lists; older ones drop off (their usage stays in the total). */
export const THREAD_RUNS_KEPT = 100

export interface ThreadStore {
  get (ownerId: string, threadId: string): ThreadRecord | undefined
  /** Adds or replaces the record; it becomes the owner's most recently used. */
  put (ownerId: string, record: ThreadRecord): void
  delete (ownerId: string, threadId: string): boolean
  /** The owner's threads, least recently used first. */
  list (ownerId: string): ThreadRecord[]
  count (ownerId: string): number
  /** Threads of every owner. */
  readonly size: number
  /** Every record goes (the server closes). */
  clear (): void
}
