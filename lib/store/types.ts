import type { Awaitable } from '../directory.js'
import type { Outcome, RunFrame, TerminalFrame, TokenFrame, Usage } from '../schemas/frames.js'

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
  /**
   * Takes the next entries while they are one-chunk tokens of `like`'s
   * message (runId, source, message id) with at most `room` characters of
   * text in all, and returns their texts joined and how many; undefined
   * (and nothing taken) when the next entry is not one. Optional: a reader
   * of a log kept as texts merges chunks without a view of each.
   */
  takeMergeable? (like: TokenFrame, room: number): { text: string, count: number } | undefined
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
  /** Appends the run's next frame; returns its bytes (what counts against lagBytes). */
  append (frame: RunFrame): number
  /** The entry kept at seq (between oldest and head). */
  entry (seq: number): LogEntry
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
 * identities may pick the same one.
 *
 * A store's operations are whole steps (claim, finish, delete), not reads
 * and writes for the caller to combine: with several gateways on one
 * store, a read then a write would race (two gateways would both find a
 * thread idle and start two runs from one state). memory-threads.ts keeps
 * threads in this process; redis/threads.ts in Redis, where a thread's
 * claim is one script with its run's start and the worker host that runs
 * it finishes it with its terminal frame (docs/redis.md, Threads).
 * Retention is the store's: timers in memory, key expiry in Redis.
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

/** A thread as a `thread` frame shows it (its state itself is not read for that: only its size). */
export interface ThreadRecord {
  readonly threadId: string
  /** UTF-8 bytes of the saved state (0: none yet). */
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

/** A claim's answer: the state to load (undefined: the thread's first run, or none saved yet), or why not. */
export type ThreadClaim =
  /** `pending`: the question the state waits at, when the claim carried its answer. */
  | { claimed: true, state: string | undefined, pending?: PendingInput }
  /** The claim carried an answer, and the thread waits for no such request (or for none). */
  | { claimed: false, unknownRequest: true }
  /** The thread has an active run (its runId). */
  | { claimed: false, busy: string }
  /** A new thread, and each of the owner's maxThreadsPerIdentity threads has an active run. */
  | { claimed: false, full: true }

/** delete's answer: `busy` names the active run that keeps the thread. */
export type ThreadDeletion = { deleted: true } | { deleted: false, busy?: string }

/** What every thread store answers: what the `thread` and `delete_thread` frames ask. */
export interface ThreadStore {
  get (ownerId: string, threadId: string): Awaitable<ThreadRecord | undefined>
  /** Forgets an idle thread; refused while it has an active run. */
  delete (ownerId: string, threadId: string): Awaitable<ThreadDeletion>
  /** Forgets every thread of the owner, busy ones too (their runs finish without saving). */
  forgetOwner (ownerId: string): Awaitable<void>
  /** Threads kept in this process (0 for a store elsewhere). */
  readonly size: number
  /** The server closes: what this process holds goes (timers; every thread, for memory). */
  clear (): void
}

/** A store whose runs are in this process: they claim and finish threads through it (memory-threads.ts). */
export interface RunThreadStore extends ThreadStore {
  /**
   * Makes the thread (first run) or takes it for run `runId`, in one step:
   * a busy thread is refused; a new one beyond maxThreadsPerIdentity makes
   * room by forgetting the owner's least recently used idle thread.
   */
  /** With `answerTo` (a start's answer.requestId): claimed only while the thread's state waits at that request. */
  claim (ownerId: string, threadId: string, runId: string, answerTo?: string): Awaitable<ThreadClaim>
  /**
   * Run `runId` ended (its terminal frame is out): keeps the state it saved
   * (undefined: none), adds its usage, and the thread is idle again. Nothing
   * when the thread is no longer that run's (forgotten meanwhile).
   */
  finish (ownerId: string, threadId: string, runId: string, terminal: TerminalFrame, state: string | undefined): Awaitable<void>
}
