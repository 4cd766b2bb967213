import { ThreadBusyError, TooManyThreadsError, UnknownRequestError, type AutogenStreamError } from './errors.js'
import { after, type Awaitable, type ThreadDirectory } from './directory.js'
import type { RunThread } from './runner.js'
import type { StartFrame, TerminalFrame, ThreadInfoFrame } from './schemas/frames.js'
import type { RunThreadStore, ThreadDeletion, ThreadRecord, ThreadStore } from './store/types.js'

/*
 * Threads of one plugin instance, over a ThreadStore (docs/protocol.md,
 * Threads). A thread is its owner's (identity id) and is found only by
 * owner and threadId together: another identity asking for the same
 * threadId finds nothing, exactly as for one that does not exist.
 *
 *   start(threadId) ─claim─▶ the store: record.active = runId ─▶ the run, with the saved state
 *   terminal frame ─finish─▶ the store: state (if saved), usage, run summary; idle again
 *
 * A run interrupted at an input request (holdInputFor) saved the state
 * it stopped at; the record keeps that request (`pending`) with it, and
 * only a start whose `answer` names it continues from there:
 *
 *   interrupted ─finish─▶ state + pending ─▶ start(threadId, answer) ─claim─▶ the run, with state and answer
 *
 * `pending` goes and comes with the state only: a run that saves no state
 * (an error) leaves both as they were, so the same answer can be sent again;
 * a run that saves one replaces both (a plain start's run answers nothing,
 * and its state no longer waits at that question).
 *
 * One run at a time per thread: two runs from one state would each save
 * their own, and the second would silently drop the first's conversation.
 * The store decides (one step each, so that gateways sharing a store
 * cannot race); this class turns its answers into frames and errors. A
 * store that answers at once (memory) keeps every call synchronous.
 */

export class Threads<S extends ThreadStore = ThreadStore> implements ThreadDirectory {
  readonly store: S
  readonly #maxThreads: number

  constructor (store: S, maxThreadsPerIdentity: number) {
    this.store = store
    this.#maxThreads = maxThreadsPerIdentity
  }

  /** Makes the thread (first run) or takes it for a run; the state to load (and the answer to go on with), or why not. In-process runs only. */
  claim (this: Threads<RunThreadStore>, ownerId: string, threadId: string, runId: string, answer?: StartFrame['answer']): Awaitable<RunThread | AutogenStreamError> {
    return after(this.store.claim(ownerId, threadId, runId, answer?.requestId), (claim) => {
      if (!claim.claimed) {
        if ('unknownRequest' in claim) return new UnknownRequestError(`Thread "${threadId}"`, answer?.requestId ?? '')
        return 'busy' in claim ? new ThreadBusyError(threadId, claim.busy) : new TooManyThreadsError(this.#maxThreads)
      }
      // Parsed for each run: a runner that changes what it was given cannot change what is kept.
      const thread: RunThread = { id: threadId, state: claim.state === undefined ? undefined : JSON.parse(claim.state) }
      if (answer !== undefined && claim.pending !== undefined) {
        thread.answer = { requestId: answer.requestId, content: answer.content, prompt: claim.pending.prompt }
        if (claim.pending.source !== undefined) thread.answer.source = claim.pending.source
      }
      return thread
    })
  }

  /** The thread's run ended (its terminal frame is out): keeps what it saved, and the thread is idle again. */
  finish (this: Threads<RunThreadStore>, ownerId: string, threadId: string, runId: string, terminal: TerminalFrame, state: string | undefined): Awaitable<void> {
    return this.store.finish(ownerId, threadId, runId, terminal, state)
  }

  /** What a `thread` frame answers; undefined alike for a thread that does not exist and another identity's. */
  info (ownerId: string, threadId: string): Awaitable<ThreadInfoFrame | undefined> {
    return after(this.store.get(ownerId, threadId), (record) => record === undefined ? undefined : infoOf(record))
  }

  /** Forgets an idle thread: 'unknown' alike for none and another identity's; 'busy' (with its runId) while a run is active. */
  delete (ownerId: string, threadId: string): Awaitable<ThreadDeletion> {
    return this.store.delete(ownerId, threadId)
  }

  /** Threads kept in this process, of every owner. */
  get size (): number { return this.store.size }

  /**
   * Forgets every thread of an owner who cannot come back: an anonymous
   * identity is one connection's, so once it closed nobody can continue,
   * list or delete its threads, and keeping them for threadRetention would
   * let each anonymous connection leave up to maxThreadsPerIdentity states
   * behind. A run still going on one of them finishes without saving.
   */
  forgetOwner (ownerId: string): Awaitable<void> {
    return this.store.forgetOwner(ownerId)
  }

  /** The server closes: what this process holds of threads goes. */
  clear (): void {
    this.store.clear()
  }
}

/** A `thread` frame of a record: copies, so that the frame never shares what the store keeps. */
export function infoOf (record: ThreadRecord): ThreadInfoFrame {
  return {
    type: 'thread',
    threadId: record.threadId,
    runs: record.runs.map((r) => {
      const summary: ThreadInfoFrame['runs'][number] = { runId: r.runId, state: r.endedAt === undefined ? 'running' : 'ended', startedAt: r.startedAt }
      if (r.endedAt !== undefined) summary.endedAt = r.endedAt
      if (r.outcome !== undefined) summary.outcome = r.outcome
      if (r.usage !== undefined) summary.usage = { ...r.usage }
      if (r.stateSaved !== undefined) summary.stateSaved = r.stateSaved
      return summary
    }),
    usage: { ...record.usage },
    stateBytes: record.stateBytes,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    ...(record.pending === undefined ? {} : { pending: { ...record.pending } })
  }
}
