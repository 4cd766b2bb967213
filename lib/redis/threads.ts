import type { Usage } from '../schemas/frames.js'
import type { PendingInput, ThreadDeletion, ThreadRecord, ThreadRunRecord, ThreadStore } from '../store/types.js'
import type { RedisRuns } from './runs.js'

/*
 * Threads in Redis (docs/redis.md, Threads): one hash per thread, keyed by
 * its owner's identity id and its threadId (keys.ts), and a sorted set per
 * owner of its threadIds by last use. Any gateway starts a thread's next
 * run and any worker host runs it:
 *
 *   gateway: THREAD_START ── claim (active = K) + the run's start, one script
 *   host:    loads `state` ── runs ── APPEND with the terminal frame: state (+ pending), usage, run summary; idle
 *   whoever finds the host dead: HOST_GONE / settle ── the run ended as an error; idle
 *
 * A run interrupted at an input request (holdInputFor, on its host) ends
 * with `interrupted`; its APPEND keeps the question (`pending`, JSON
 * `{ requestId, prompt, source? }`) with its state. A start whose `answer`
 * names it reads `pending` first, writes its prompt and source into the
 * run's request, and THREAD_START claims the thread only while `pending`
 * is still exactly that text: the request never carries a question the
 * state does not wait at.
 *
 * Idle threads expire threadRetention after their last run (PEXPIRE); a
 * thread with an active run does not expire. What this gateway reads back
 * (the record's fields, its runs' JSON) is parsed inside a guard: Redis is
 * shared with other processes.
 */

/** The dead host's terminal error, as HOST_GONE writes it (runs.ts's tail loop uses the same). */
export const WORKER_DIED = ['AGS_WORKER_DIED', 'The worker host running this run stopped answering'] as const

/** A command of a run's start, for THREAD_START to run after its claim. */
export type Command = Array<string | number>

export type ThreadStartAnswer = { claimed: true } | { claimed: false, unknownRequest: true } | { claimed: false, busy: string } | { claimed: false, full: true }

/** The question a thread's state waits at, as the record holds it (`text`, for THREAD_START to compare) and parsed. */
export interface PendingText { text: string, value: PendingInput }

export class RedisThreadStore implements ThreadStore {
  readonly #dir: RedisRuns

  constructor (dir: RedisRuns) {
    this.#dir = dir
  }

  /** Kept in Redis, not in this process. */
  get size (): number { return 0 }

  /**
   * A thread run's start: THREAD_START claims the thread and, only if it
   * could, runs `commands` (the run's meta with `thread`, lookups,
   * `started`, request) in the same step. `answers`: the record's
   * `pending` text the start answers (pending() read it); the claim is
   * refused (unknownRequest) unless the record still holds exactly that.
   */
  async start (ownerId: string, threadId: string, runId: string, runKey: string, commands: Command[], answers?: string): Promise<ThreadStartAnswer> {
    const dir = this.#dir
    const { keys, config } = dir
    const args: Array<string | number> = [
      keys.prefix, threadId, keys.threadsOf(ownerId), runKey, runId, config.maxThreadsPerIdentity, config.threadRetention,
      config.retainAfterEnd, ...WORKER_DIED, ownerId, answers ?? '', commands.length
    ]
    for (const command of commands) args.push(command.length, ...command)
    const reply = await dir.script('agsThreadStart', [keys.thread(ownerId, threadId), keys.threadIndex(ownerId)], args)
    if (!Array.isArray(reply)) throw new Error('THREAD_START: an unexpected reply')
    if (Number(reply[0]) === 1) return { claimed: true }
    if (reply[1] === 'unknown') return { claimed: false, unknownRequest: true }
    if (reply[1] === 'full') return { claimed: false, full: true }
    return { claimed: false, busy: String(reply[2] ?? '') }
  }

  /**
   * The question the thread's saved state waits at (its last run was
   * interrupted there); undefined when none, for no thread, and for a
   * `pending` that is not one (parsed inside a guard: Redis is shared).
   * Read before a start with an answer; THREAD_START checks it again.
   */
  async pending (ownerId: string, threadId: string): Promise<PendingText | undefined> {
    const dir = this.#dir
    const text = await dir.cmd.hget(dir.keys.thread(ownerId, threadId), 'pending')
    if (text === null) return undefined
    const value = pendingOf(text)
    return value === undefined ? undefined : { text, value }
  }

  async get (ownerId: string, threadId: string): Promise<ThreadRecord | undefined> {
    const dir = this.#dir
    const reply = await dir.script('agsThreadRead', [dir.keys.thread(ownerId, threadId)], [dir.keys.prefix, dir.config.retainAfterEnd, ...WORKER_DIED])
    if (!Array.isArray(reply)) return undefined
    const [id, runs, prompt, completion, stateBytes, created, updated, activeRunId, pendingText] = reply as Array<string | null>
    // A record the gateway did not make whole (written by hand, a partial restore): nothing to show.
    if (id !== threadId) return undefined
    const record: ThreadRecord = {
      threadId,
      stateBytes: count(stateBytes),
      runs: runsOf(runs),
      usage: { prompt_tokens: count(prompt), completion_tokens: count(completion) },
      createdAt: count(created),
      updatedAt: count(updated),
      active: activeRunId ?? undefined
    }
    const pending = pendingText === null || pendingText === undefined ? undefined : pendingOf(pendingText)
    if (pending !== undefined) record.pending = pending
    return record
  }

  async delete (ownerId: string, threadId: string): Promise<ThreadDeletion> {
    const dir = this.#dir
    const reply = await dir.script('agsThreadDelete', [dir.keys.thread(ownerId, threadId), dir.keys.threadIndex(ownerId)],
      [dir.keys.prefix, threadId, dir.config.retainAfterEnd, ...WORKER_DIED])
    if (!Array.isArray(reply)) throw new Error('THREAD_DELETE: an unexpected reply')
    if (Number(reply[0]) === 1) return { deleted: true }
    return reply.length > 1 ? { deleted: false, busy: String(reply[1]) } : { deleted: false }
  }

  async forgetOwner (ownerId: string): Promise<void> {
    const dir = this.#dir
    await dir.script('agsThreadsForget', [dir.keys.threadIndex(ownerId)], [dir.keys.threadsOf(ownerId)])
  }

  /** Nothing of threads is held in this process. */
  clear (): void {}
}

/** A non-negative integer field; 0 for anything else. */
function count (value: string | null | undefined): number {
  const n = Number(value)
  return Number.isSafeInteger(n) && n >= 0 ? n : 0
}

/** The record's `runs` (JSON the scripts write, cjson's: an empty array may read as `{}`); malformed entries are left out. */
function runsOf (text: string | null | undefined): ThreadRunRecord[] {
  let value: unknown
  try {
    value = JSON.parse(text ?? '[]')
  } catch {
    return []
  }
  if (!Array.isArray(value)) return []
  const runs: ThreadRunRecord[] = []
  for (const entry of value as unknown[]) {
    if (typeof entry !== 'object' || entry === null) continue
    const r = entry as Record<string, unknown>
    if (typeof r.runId !== 'string' || typeof r.startedAt !== 'number') continue
    const run: ThreadRunRecord = { runId: r.runId, startedAt: r.startedAt }
    if (typeof r.endedAt === 'number') run.endedAt = r.endedAt
    if (r.outcome === 'result' || r.outcome === 'cancelled' || r.outcome === 'error' || r.outcome === 'interrupted') run.outcome = r.outcome
    const usage = usageOf(r.usage)
    if (usage !== undefined) run.usage = usage
    if (typeof r.stateSaved === 'boolean') run.stateSaved = r.stateSaved
    runs.push(run)
  }
  return runs
}

function usageOf (value: unknown): Usage | undefined {
  if (typeof value !== 'object' || value === null) return undefined
  const { prompt_tokens: prompt, completion_tokens: completion } = value as Record<string, unknown>
  if (typeof prompt !== 'number' || typeof completion !== 'number') return undefined
  return { prompt_tokens: prompt, completion_tokens: completion }
}

/** The record's `pending` (JSON the host writes: requestId, prompt, source?); undefined for anything else. */
function pendingOf (text: string): PendingInput | undefined {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return undefined
  }
  if (typeof value !== 'object' || value === null) return undefined
  const { requestId, prompt, source } = value as Record<string, unknown>
  if (typeof requestId !== 'string' || typeof prompt !== 'string' || (source !== undefined && typeof source !== 'string')) return undefined
  return source === undefined ? { requestId, prompt } : { requestId, prompt, source }
}
