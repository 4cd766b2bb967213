import type { TerminalFrame } from '../schemas/frames.js'
import { THREAD_RUNS_KEPT, type RunThreadStore, type ThreadClaim, type ThreadDeletion, type ThreadRecord } from './types.js'

/** A record with what memory keeps besides: the state itself. */
interface Kept extends ThreadRecord {
  /** The state the last run saved, as JSON text; undefined before any. */
  state: string | undefined
}

export interface MemoryThreadLimits {
  /** Threads one owner keeps (maxThreadsPerIdentity). */
  maxThreadsPerIdentity: number
  /** How long an idle thread is kept after its last run (threadRetention, ms). */
  threadRetention: number
}

const key = (ownerId: string, threadId: string): string => `${ownerId.length}:${ownerId}${threadId}`

/**
 * Threads in this process's memory: one Map per owner, in the order of
 * use (a claim or a finish moves a record to the end), so the least
 * recently used is the first. Every operation answers at once (no
 * promise): two claims can never interleave. Gone when the process exits.
 *
 *   claim ─▶ record.active = runId ─▶ the run, with the saved state
 *   finish ─▶ state (if saved) and the question it waits at (an interrupted run's), usage, run summary; idle again; retention timer
 */
export class MemoryThreadStore implements RunThreadStore {
  readonly #limits: MemoryThreadLimits
  readonly #byOwner = new Map<string, Map<string, Kept>>()
  /** Idle threads' retention timers, by owner and threadId. */
  readonly #timers = new Map<string, NodeJS.Timeout>()
  #size = 0

  constructor (limits: MemoryThreadLimits) {
    this.#limits = limits
  }

  get size (): number { return this.#size }

  claim (ownerId: string, threadId: string, runId: string, answerTo?: string): ThreadClaim {
    const now = Date.now()
    let record = this.#byOwner.get(ownerId)?.get(threadId)
    // The same answer for no thread, another identity's, and one that waits for another request.
    if (answerTo !== undefined && record?.pending?.requestId !== answerTo) return { claimed: false, unknownRequest: true }
    if (record?.active !== undefined) return { claimed: false, busy: record.active }
    if (record === undefined) {
      const mine = this.#byOwner.get(ownerId)
      if ((mine?.size ?? 0) >= this.#limits.maxThreadsPerIdentity) {
        let idle: Kept | undefined
        for (const r of mine?.values() ?? []) {
          if (r.active === undefined) {
            idle = r
            break
          }
        }
        if (idle === undefined) return { claimed: false, full: true }
        this.#forget(ownerId, idle.threadId)
      }
      record = { threadId, state: undefined, stateBytes: 0, runs: [], usage: { prompt_tokens: 0, completion_tokens: 0 }, createdAt: now, updatedAt: now, active: undefined }
    }
    this.#clearTimer(ownerId, threadId)
    record.active = runId
    record.updatedAt = now
    record.runs.push({ runId, startedAt: now })
    if (record.runs.length > THREAD_RUNS_KEPT) record.runs.splice(0, record.runs.length - THREAD_RUNS_KEPT)
    this.#put(ownerId, record)
    const pending = answerTo === undefined ? undefined : record.pending
    return pending === undefined ? { claimed: true, state: record.state } : { claimed: true, state: record.state, pending: { ...pending } }
  }

  finish (ownerId: string, threadId: string, runId: string, terminal: TerminalFrame, state: string | undefined): void {
    const record = this.#byOwner.get(ownerId)?.get(threadId)
    // Forgotten meanwhile (forgetOwner), or a store that lost it: the run saves nothing.
    if (record?.active !== runId) return
    const now = Date.now()
    record.active = undefined
    record.updatedAt = now
    if (state !== undefined) {
      // The question the state waits at comes and goes with it: a run that
      // saved nothing leaves both, so the same answer can be sent again.
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
    this.#put(ownerId, record)
    this.#armTimer(ownerId, threadId)
  }

  get (ownerId: string, threadId: string): ThreadRecord | undefined {
    return this.#byOwner.get(ownerId)?.get(threadId)
  }

  delete (ownerId: string, threadId: string): ThreadDeletion {
    const record = this.#byOwner.get(ownerId)?.get(threadId)
    if (record === undefined) return { deleted: false }
    if (record.active !== undefined) return { deleted: false, busy: record.active }
    this.#forget(ownerId, threadId)
    return { deleted: true }
  }

  forgetOwner (ownerId: string): void {
    for (const threadId of [...this.#byOwner.get(ownerId)?.keys() ?? []]) this.#forget(ownerId, threadId)
  }

  clear (): void {
    for (const timer of this.#timers.values()) clearTimeout(timer)
    this.#timers.clear()
    this.#byOwner.clear()
    this.#size = 0
  }

  /** Adds or replaces the record; it becomes the owner's most recently used. */
  #put (ownerId: string, record: Kept): void {
    let mine = this.#byOwner.get(ownerId)
    if (mine === undefined) {
      mine = new Map()
      this.#byOwner.set(ownerId, mine)
    }
    // Deleted first: a Map keeps the first insertion's place.
    if (!mine.delete(record.threadId)) this.#size++
    mine.set(record.threadId, record)
  }

  #forget (ownerId: string, threadId: string): void {
    this.#clearTimer(ownerId, threadId)
    const mine = this.#byOwner.get(ownerId)
    if (mine?.delete(threadId) !== true) return
    this.#size--
    if (mine.size === 0) this.#byOwner.delete(ownerId)
  }

  #armTimer (ownerId: string, threadId: string): void {
    const k = key(ownerId, threadId)
    clearTimeout(this.#timers.get(k))
    this.#timers.set(k, setTimeout(() => {
      this.#timers.delete(k)
      if (this.#byOwner.get(ownerId)?.get(threadId)?.active === undefined) this.#forget(ownerId, threadId)
    }, this.#limits.threadRetention).unref())
  }

  #clearTimer (ownerId: string, threadId: string): void {
    const k = key(ownerId, threadId)
    const timer = this.#timers.get(k)
    if (timer === undefined) return
    clearTimeout(timer)
    this.#timers.delete(k)
  }
}
