import { ThreadBusyError, TooManyThreadsError, UnknownRequestError, type AutogenStreamError } from './errors.js'
import type { Config } from './options.js'
import type { RunThread } from './runner.js'
import type { StartFrame, TerminalFrame, ThreadInfoFrame } from './schemas/frames.js'
import { THREAD_RUNS_KEPT, type ThreadStore } from './store/types.js'

/*
 * Threads of one plugin instance, over a ThreadStore (docs/protocol.md,
 * Threads). A thread is its owner's (identity id) and is found only by
 * owner and threadId together: another identity asking for the same
 * threadId finds nothing, exactly as for one that does not exist.
 *
 *   start(threadId) ─claim─▶ record.active = runId ─▶ the run, with the saved state
 *   terminal frame ─finish─▶ state (if saved), usage, run summary; idle again
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
 * An idle thread is forgotten threadRetention after its last run; an
 * owner over maxThreadsPerIdentity loses its least recently used idle one.
 */

const key = (ownerId: string, threadId: string): string => `${ownerId.length}:${ownerId}${threadId}`

export class Threads {
  readonly #config: Config
  readonly #store: ThreadStore
  /** Idle threads' retention timers, by owner and threadId. */
  readonly #timers = new Map<string, NodeJS.Timeout>()

  constructor (config: Config, store: ThreadStore) {
    this.#config = config
    this.#store = store
  }

  /** Makes the thread (first run) or takes it for a run; the state to load (and the answer to go on with), or why not. */
  claim (ownerId: string, threadId: string, runId: string, answer?: StartFrame['answer']): RunThread | AutogenStreamError {
    const now = Date.now()
    let record = this.#store.get(ownerId, threadId)
    if (record?.active !== undefined) return new ThreadBusyError(threadId, record.active)
    const pending = record?.pending
    // The same answer for no thread, another identity's, and one that waits for another request.
    if (answer !== undefined && pending?.requestId !== answer.requestId) return new UnknownRequestError(`Thread "${threadId}"`, answer.requestId)
    if (record === undefined) {
      if (this.#store.count(ownerId) >= this.#config.maxThreadsPerIdentity) {
        const idle = this.#store.list(ownerId).find((r) => r.active === undefined)
        if (idle === undefined) return new TooManyThreadsError(this.#config.maxThreadsPerIdentity)
        this.#forget(ownerId, idle.threadId)
      }
      record = { threadId, state: undefined, stateBytes: 0, runs: [], usage: { prompt_tokens: 0, completion_tokens: 0 }, createdAt: now, updatedAt: now, active: undefined }
    }
    this.#clearTimer(ownerId, threadId)
    record.active = runId
    record.updatedAt = now
    record.runs.push({ runId, startedAt: now })
    if (record.runs.length > THREAD_RUNS_KEPT) record.runs.splice(0, record.runs.length - THREAD_RUNS_KEPT)
    this.#store.put(ownerId, record)
    // Parsed for each run: a runner that changes what it was given cannot change what is kept.
    const thread: RunThread = { id: threadId, state: record.state === undefined ? undefined : JSON.parse(record.state) }
    if (answer !== undefined && pending !== undefined) {
      thread.answer = { requestId: answer.requestId, content: answer.content, prompt: pending.prompt }
      if (pending.source !== undefined) thread.answer.source = pending.source
    }
    return thread
  }

  /** The thread's run ended (its terminal frame is out): keeps what it saved, and the thread is idle again. */
  finish (ownerId: string, threadId: string, runId: string, terminal: TerminalFrame, state: string | undefined): void {
    const record = this.#store.get(ownerId, threadId)
    // Deleted meanwhile cannot be (delete refuses a busy thread), but a store may have lost it.
    if (record?.active !== runId) return
    const now = Date.now()
    record.active = undefined
    record.updatedAt = now
    if (state !== undefined) {
      record.state = state
      record.stateBytes = Buffer.byteLength(state)
      if (terminal.type === 'interrupted') {
        record.pending = { requestId: terminal.requestId, prompt: terminal.prompt }
        if (terminal.source !== undefined) record.pending.source = terminal.source
      } else {
        record.pending = undefined
      }
    }
    const usage = terminal.usage
    if (usage !== undefined) {
      record.usage.prompt_tokens += usage.prompt_tokens
      record.usage.completion_tokens += usage.completion_tokens
    }
    let run
    for (let i = record.runs.length - 1; i >= 0 && run === undefined; i--) if (record.runs[i]?.runId === runId) run = record.runs[i]
    if (run !== undefined) {
      run.endedAt = now
      run.outcome = terminal.type
      if (usage !== undefined) run.usage = { ...usage }
      run.stateSaved = state !== undefined
    }
    this.#store.put(ownerId, record)
    this.#armTimer(ownerId, threadId)
  }

  /** What a `thread` frame answers; undefined alike for a thread that does not exist and another identity's. */
  info (ownerId: string, threadId: string): ThreadInfoFrame | undefined {
    const record = this.#store.get(ownerId, threadId)
    if (record === undefined) return undefined
    return {
      type: 'thread',
      threadId,
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

  /** Forgets an idle thread: 'unknown' alike for none and another identity's; 'busy' (with its runId) while a run is active. */
  delete (ownerId: string, threadId: string): { deleted: true } | { deleted: false, busy?: string } {
    const record = this.#store.get(ownerId, threadId)
    if (record === undefined) return { deleted: false }
    if (record.active !== undefined) return { deleted: false, busy: record.active }
    this.#forget(ownerId, threadId)
    return { deleted: true }
  }

  /** Threads kept, of every owner. */
  get size (): number { return this.#store.size }

  /**
   * Forgets every thread of an owner who cannot come back: an anonymous
   * identity is one connection's, so once it closed nobody can continue,
   * list or delete its threads, and keeping them for threadRetention would
   * let each anonymous connection leave up to maxThreadsPerIdentity states
   * behind. A run still going on one of them finishes without saving.
   */
  forgetOwner (ownerId: string): void {
    for (const record of this.#store.list(ownerId)) this.#forget(ownerId, record.threadId)
  }

  /** The server closes: timers and threads go. */
  clear (): void {
    for (const timer of this.#timers.values()) clearTimeout(timer)
    this.#timers.clear()
    this.#store.clear()
  }

  #forget (ownerId: string, threadId: string): void {
    this.#clearTimer(ownerId, threadId)
    this.#store.delete(ownerId, threadId)
  }

  #armTimer (ownerId: string, threadId: string): void {
    const k = key(ownerId, threadId)
    clearTimeout(this.#timers.get(k))
    this.#timers.set(k, setTimeout(() => {
      this.#timers.delete(k)
      if (this.#store.get(ownerId, threadId)?.active === undefined) this.#store.delete(ownerId, threadId)
    }, this.#config.threadRetention).unref())
  }

  #clearTimer (ownerId: string, threadId: string): void {
    const k = key(ownerId, threadId)
    const timer = this.#timers.get(k)
    if (timer === undefined) return
    clearTimeout(timer)
    this.#timers.delete(k)
  }
}
