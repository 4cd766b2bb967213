import { randomBytes, randomUUID } from 'node:crypto'
import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import { Attachment } from './attachment.js'
import {
  BusyError, DuplicateRunIdError, ThreadUnsupportedError, TooManyRunsForIdentityError, TooManyWatchersError, type AutogenStreamError
} from './errors.js'
import { Threads } from './threads.js'
import { MemoryThreadStore } from './store/memory-threads.js'
import type { Config } from './options.js'
import type { RunAdmission } from './limits.js'
import { Run } from './run.js'
import type { Identity, RunnerObject, RunThread } from './runner.js'
import type { Counters } from './stats.js'
import type { LogEntry, LogLimits, RunLog, RunStore } from './store/types.js'
import type { CancelReason, ProtocolVersion, RunSummary, StartFrame, TerminalFrame } from './schemas/frames.js'
import { after, type Awaitable, type RunDirectory, type RunFigures, type SharedRun } from './directory.js'
import type { RunObserver, RunProbe } from './observe.js'

/*
 * The one owner of runs. A run lives here, apart from the connections that
 * watch it, from its `start` until its retention ends:
 *
 *   connection ──attach──▶ Attachment ──reader──▶ ┌──────────────┐
 *   connection ──attach──▶ Attachment ──reader──▶ │  run log     │ ◀──pump── Run (Readable over the runner)
 *                                                  └──────────────┘
 *                          HostedRun: run + log + watchers + timers
 *
 * The pump moves frames from the run into its log while the log has
 * credit (its slowest reader is less than maxRunLag behind); without
 * credit the run's Readable fills and the runner is not pulled. With no
 * watcher the run goes on up to that bound, and is cancelled (`abandoned`)
 * when nobody attaches within detachTimeout.
 */

export interface StartParams {
  frame: StartFrame
  runId: string
  identity: Identity
  /** Whose detached and ended runs are bounded together: the identity, or the client address for anonymous ones. */
  poolKey: string
  anonymous: boolean
  request: FastifyRequest
  log: FastifyBaseLogger
  version: ProtocolVersion
}

export type LeaveReason = 'client' | 'lagging' | Exclude<CancelReason, 'client' | 'abandoned' | 'shutdown'>

/** One run with its log and the connections attached to it. */
export class HostedRun implements SharedRun {
  readonly run: Run
  readonly log: RunLog
  readonly key: string
  readonly runId: string
  readonly ownerId: string
  readonly poolKey: string
  readonly anonymous: boolean
  readonly resumeToken: string
  /** Cancel when the last watcher disconnects (onDisconnect 'cancel', or a v1 starter, which cannot resume). */
  readonly cancelOnDisconnect: boolean
  /** The client's threadId when the run belongs to a thread (of ownerId). */
  readonly threadId: string | undefined
  readonly #runs: Runs
  readonly #watchers = new Map<Attachment, { onLagging: () => void }>()
  /** Input requests still pending, by request id: sent again to whoever attaches. */
  readonly #inputs = new Map<string, LogEntry>()
  readonly #isPending = (requestId: string): boolean => {
    this.#pruneInputs()
    return this.#inputs.has(requestId)
  }

  #pumping = false
  /** Metrics and tracing of this run (undefined without either: the pump then skips every call). */
  readonly #probe: RunProbe | undefined
  /** Chunks streamed into the log, counted only for the probe. */
  #tokens = 0
  #detachTimer: NodeJS.Timeout | undefined
  #lagTimer: NodeJS.Timeout | undefined
  #retained = false

  constructor (runs: Runs, run: Run, log: RunLog, params: StartParams, cancelOnDisconnect: boolean, probe?: RunProbe) {
    this.#runs = runs
    this.#probe = probe
    this.run = run
    this.log = log
    this.key = run.key
    this.runId = params.runId
    this.ownerId = params.identity.id
    this.poolKey = params.poolKey
    this.anonymous = params.anonymous
    this.resumeToken = randomBytes(24).toString('base64url')
    this.cancelOnDisconnect = cancelOnDisconnect
    this.threadId = params.frame.threadId
    run.on('readable', this.pump)
    run.on('ending', this.pump)
    log.onCredit(this.pump)
  }

  get ended (): boolean { return this.log.terminal !== undefined }
  get watchers (): number { return this.#watchers.size }
  get waiting (): boolean { return this.run.waiting }
  get head (): number { return this.log.head }
  get oldest (): number { return this.log.oldest }
  cancel (reason: CancelReason): boolean { return this.run.cancel(reason) }
  requestStop (): boolean { return this.run.requestStop() }

  summary (): RunSummary {
    const terminal = this.log.terminal?.frame
    const summary: RunSummary = {
      runId: this.runId,
      state: terminal !== undefined ? 'ended' : this.run.waiting ? 'queued' : 'running',
      lastSeq: this.log.head,
      watchers: this.#watchers.size
    }
    if (terminal !== undefined) summary.outcome = (terminal as TerminalFrame).type
    return summary
  }

  /**
   * A connection starts reading from after `after`. Throws LogGapError when
   * that is older than what is kept. `notify` wakes the connection's sender;
   * `onLagging` is called when it is detached for lagging.
   */
  attach (after: number, opts: { version: ProtocolVersion, starter: boolean, notify: () => void, onLagging: () => void }): Attachment | AutogenStreamError {
    const max = this.#runs.config.maxWatchersPerRun
    if (this.#watchers.size >= max) return new TooManyWatchersError(this.runId, max)
    const reader = this.log.reader(after, opts.notify)
    // Requests the runner still waits for, logged at or before where this reader starts.
    this.#pruneInputs()
    const resend = opts.starter ? [] : [...this.#inputs.values()].filter((e) => e.seq <= reader.position)
    const attachment = new Attachment(this.runId, reader, {
      version: opts.version,
      coalesceTokens: this.#runs.config.coalesceTokens,
      maxTokenFrameChars: this.#runs.config.maxTokenFrameChars,
      ...(opts.starter && opts.version !== 'autogen-stream.v1' ? { resumeToken: this.resumeToken } : {}),
      ...(opts.version !== 'autogen-stream.v1' ? { isPending: this.#isPending } : {}),
      resend
    })
    this.#watchers.set(attachment, { onLagging: opts.onLagging })
    clearTimeout(this.#detachTimer)
    this.#detachTimer = undefined
    this.#runs.undetached(this)
    // With a second watcher, a log held by the first may now arm the lagging timer.
    this.pump()
    return attachment
  }

  /** A connection stops reading: it detached, lagged, or closed (then `reason` says why). */
  leave (attachment: Attachment, reason: LeaveReason): void {
    if (!this.#watchers.delete(attachment)) return
    attachment.close()
    if (this.#watchers.size > 0) return
    if (this.ended) {
      if (this.#retained) this.#runs.forget(this)
      return
    }
    if (reason !== 'client' && reason !== 'lagging' && this.cancelOnDisconnect) {
      this.run.cancel(reason)
      return
    }
    const timeout = this.#runs.config.detachTimeout
    this.#runs.detached(this)
    if (this.ended || !this.run.active) return
    if (timeout > 0) {
      this.#detachTimer = setTimeout(() => {
        this.#detachTimer = undefined
        if (this.#watchers.size === 0) this.run.cancel('abandoned')
      }, timeout).unref()
    }
  }

  /** Moves frames from the run into its log while the log has credit; the terminal frame always goes in. */
  pump = (): void => {
    if (this.#pumping) return
    this.#pumping = true
    try {
      // The room left under maxRunLag, counted down here rather than asked of the log per frame.
      let room = this.log.room
      while (!this.ended) {
        // A cancelled or timed-out run's last frames go in whatever the lag.
        if (this.run.active && (room.events <= 0 || room.bytes <= 0)) {
          // Asking hasCredit also tells the log that the producer waits for credit.
          if (!this.log.hasCredit) {
            this.#armLagTimer()
            break
          }
          room = this.log.room
        }
        const frame = this.run.nextFrame()
        if (frame === null) break
        const size = this.log.append(frame)
        room.events--
        room.bytes -= size
        if (frame.type === 'input_request') {
          this.#pruneInputs()
          this.#inputs.set(frame.requestId, this.log.entry(frame.seq))
        } else if (this.#probe !== undefined && frame.type === 'token' && this.#tokens++ === 0) {
          this.#probe.firstToken()
        }
        if (this.ended) this.#onEnded()
      }
      if (this.log.hasCredit) this.#clearLagTimer()
    } finally {
      this.#pumping = false
    }
  }

  /** Drops the input requests the runner no longer waits for (timed out, or rejected). */
  #pruneInputs (): void {
    for (const requestId of this.#inputs.keys()) if (!this.run.awaitsInput(requestId)) this.#inputs.delete(requestId)
  }

  /** An `input` frame: the first answer wins. */
  answer (requestId: string, content: string): boolean {
    if (!this.run.provideInput(requestId, content)) return false
    this.#inputs.delete(requestId)
    return true
  }

  /**
   * The log is held by a slow watcher: if it stays so for stallTimeout
   * while another watcher keeps up, the slow one is detached (`lagging`)
   * and the others go on. A lone slow watcher is its connection's own
   * stall (stallTimeout on its socket).
   */
  #armLagTimer (): void {
    const timeout = this.#runs.config.stallTimeout
    if (timeout === 0 || this.#lagTimer !== undefined || this.#watchers.size < 2) return
    this.#lagTimer = setTimeout(() => {
      this.#lagTimer = undefined
      if (this.ended || this.log.hasCredit) return
      let slowest = Infinity
      for (const a of this.#watchers.keys()) slowest = Math.min(slowest, a.position)
      const behind = [...this.#watchers].filter(([a]) => a.position === slowest)
      if (behind.length === this.#watchers.size) return
      for (const [, { onLagging }] of behind) onLagging()
    }, timeout).unref()
  }

  #clearLagTimer (): void {
    clearTimeout(this.#lagTimer)
    this.#lagTimer = undefined
  }

  #onEnded (): void {
    clearTimeout(this.#detachTimer)
    this.#detachTimer = undefined
    this.#clearLagTimer()
    this.#inputs.clear()
    this.#runs.ended(this)
    const terminal = this.log.terminal?.frame
    // The memory store answers at once: a start right after this terminal frame finds the thread idle.
    if (this.threadId !== undefined && terminal !== undefined) this.#runs.threads.finish(this.ownerId, this.threadId, this.runId, terminal as TerminalFrame, this.run.savedState)
    if (this.#probe !== undefined && terminal !== undefined) this.#probe.ended(terminal as TerminalFrame, this.#tokens)
  }

  /** Retention is over: forgotten now if nobody reads it, else when the last watcher leaves. */
  expire (): void {
    this.#retained = true
    if (this.#watchers.size === 0) this.#runs.forget(this)
  }

  /** The server closes: timers go, the run is cancelled. */
  shutdown (): void {
    clearTimeout(this.#detachTimer)
    this.#clearLagTimer()
    this.run.cancel('shutdown')
  }
}

export class Runs implements RunDirectory {
  readonly config: Config
  readonly #store: RunStore
  readonly #admission: RunAdmission
  readonly #counters: Counters
  readonly #byKey = new Map<string, HostedRun>()
  /** Runs by owner identity, then by runId: what `list` shows and `attach` without a token finds. */
  readonly #byOwner = new Map<string, Map<string, HostedRun>>()
  /** Runs by resume token (a 192-bit random secret). */
  readonly #byToken = new Map<string, HostedRun>()
  /** Active runs (until their terminal frame) by owner identity. */
  readonly #active = new Map<string, number>()
  /** Ended runs kept for resume, by pool key, oldest first. */
  readonly #retained = new Map<string, HostedRun[]>()
  /** Anonymous runs nobody reads, by client address, oldest first. */
  readonly #detached = new Map<string, Set<HostedRun>>()
  readonly #retainTimers = new Map<HostedRun, NodeJS.Timeout>()
  readonly #limits: LogLimits

  readonly #runner: RunnerObject
  readonly #observer: RunObserver | undefined
  /** Threads of this server's identities, in memory (the Redis directory keeps them in Redis: redis/threads.ts). */
  readonly threads: Threads<MemoryThreadStore>

  constructor (config: Config, store: RunStore, admission: RunAdmission, counters: Counters, observer?: RunObserver) {
    this.#observer = observer
    if (config.runner === undefined) throw new TypeError('Runs holds runs in this process: it needs a runner')
    this.#runner = config.runner
    this.config = config
    this.#store = store
    this.#admission = admission
    this.#counters = counters
    this.threads = new Threads(new MemoryThreadStore(config), config.maxThreadsPerIdentity)
    this.#limits = {
      lagEvents: config.maxRunLag.events,
      lagBytes: config.maxRunLag.bytes,
      retainEvents: config.retainEvents,
      retainBytes: config.retainBytes
    }
  }

  /** Figures for fastify.autogenStream. */
  figures (): RunFigures {
    let active = 0
    let attached = 0
    let retained = 0
    let queued = 0
    for (const hosted of this.#byKey.values()) {
      if (hosted.ended) retained++
      else {
        active++
        if (hosted.watchers > 0) attached++
        if (hosted.waiting) queued++
      }
    }
    return { active, attached, detached: active - attached, queued, retained, logBytes: this.#store.bytes, threads: this.threads.size }
  }

  start (params: StartParams): Awaitable<HostedRun | AutogenStreamError> {
    const { config } = this
    const active = this.#active.get(params.identity.id) ?? 0
    if (config.maxRunsPerIdentity !== 0 && active >= config.maxRunsPerIdentity) return new TooManyRunsForIdentityError(config.maxRunsPerIdentity)
    const owned = this.#byOwner.get(params.identity.id)
    const previous = owned?.get(params.runId)
    // A runId names one run of its owner at a time; an ended one is replaced (still reachable by its token).
    if (previous !== undefined && !previous.ended) return new DuplicateRunIdError(params.runId)
    if (this.#admission.full) return new BusyError(this.#admission.active, this.#admission.queued)
    const threadId = params.frame.threadId
    if (threadId === undefined) return this.#begin(params, undefined)
    if (this.#runner.threads !== true) return new ThreadUnsupportedError('the runner does not keep thread state (a runner object with threads: true does, such as pythonRunner)')
    // Last: a start refused above leaves the thread as it was. The memory
    // store answers at once, so nothing else happens between the checks
    // above and the run's start.
    return after(this.threads.claim(params.identity.id, threadId, params.runId, params.frame.answer), (thread) => thread instanceof Error ? thread : this.#begin(params, thread))
  }

  #begin (params: StartParams, thread: RunThread | undefined): HostedRun {
    const { config } = this
    const active = this.#active.get(params.identity.id) ?? 0
    // A start checked by checkClientFrame has a task, or an answer (whose content is the run's task).
    const task = params.frame.task ?? params.frame.answer?.content ?? ''
    const key = randomUUID()
    const run = new Run({
      // The key is the server's, never the client's runId: two clients may pick the same runId.
      request: { runId: params.runId, key, task, options: params.frame.options ?? {}, ...(thread !== undefined ? { thread } : {}) },
      maxStateBytes: config.maxThreadStateBytes,
      threadStateTimeout: config.threadStateTimeout,
      // Only a runner that can go on from an interrupted input request has its runs interrupted.
      ...(this.#runner.interrupts === true ? { holdInputFor: config.holdInputFor } : {}),
      runner: this.#runner,
      context: { request: params.request, log: params.log, identity: params.identity },
      highWaterMark: config.highWaterMark,
      runTimeout: config.runTimeout,
      inputTimeout: config.inputTimeout,
      admit: (r) => this.#admission.admit(r)
    })
    this.#counters.runsStarted++
    this.#active.set(params.identity.id, active + 1)
    const hosted = new HostedRun(this, run, this.#store.create(key, this.#limits), params,
      config.onDisconnect === 'cancel' || params.version === 'autogen-stream.v1',
      this.#observer?.run({ runId: params.runId, key, request: params.request }))
    this.#byKey.set(key, hosted)
    this.#byToken.set(hosted.resumeToken, hosted)
    let mine = this.#byOwner.get(params.identity.id)
    if (mine === undefined) {
      mine = new Map()
      this.#byOwner.set(params.identity.id, mine)
    }
    mine.set(params.runId, hosted)
    // Its `started` (and whatever the runner already has) goes into the log now.
    hosted.pump()
    return hosted
  }

  /**
   * The run `runId` that this identity may read: its own, or any whose
   * resume token it presents. undefined otherwise, alike for a run that
   * does not exist and one that is not theirs.
   */
  find (identityId: string, runId: string, resumeToken?: string): HostedRun | undefined {
    const own = this.#byOwner.get(identityId)?.get(runId)
    if (resumeToken === undefined) return own
    const hosted = this.#byToken.get(resumeToken)
    // Found by the token itself: the map's key is the proof; the runId must name that run too.
    return hosted?.runId === runId ? hosted : undefined
  }

  list (identityId: string): RunSummary[] {
    const owned = this.#byOwner.get(identityId)
    return owned === undefined ? [] : [...owned.values()].map((h) => h.summary())
  }

  /** @internal A run's terminal frame is in its log: its slot is free, its log is kept for retainAfterEnd. */
  ended (hosted: HostedRun): void {
    const n = (this.#active.get(hosted.ownerId) ?? 1) - 1
    if (n === 0) this.#active.delete(hosted.ownerId)
    else this.#active.set(hosted.ownerId, n)
    this.undetached(hosted)
    let kept = this.#retained.get(hosted.poolKey)
    if (kept === undefined) {
      kept = []
      this.#retained.set(hosted.poolKey, kept)
    }
    kept.push(hosted)
    // At most maxRunsPerIdentity ended runs are kept per identity (per
    // address for anonymous ones). Beyond, the oldest of whoever keeps the
    // most goes first: one client behind an address cannot evict another's.
    while (kept.length > this.#poolCap) {
      const victim = oldestOfLargestOwner(kept)
      kept.splice(kept.indexOf(victim), 1)
      victim.expire()
    }
    const timer = setTimeout(() => hosted.expire(), this.config.retainAfterEnd).unref()
    this.#retainTimers.set(hosted, timer)
  }

  get #poolCap (): number {
    return this.config.maxRunsPerIdentity === 0 ? 16 : this.config.maxRunsPerIdentity
  }

  /**
   * @internal An anonymous run lost its last watcher. Anonymous clients
   * behind one address share maxRunsPerIdentity detached runs: beyond, the
   * oldest detached one is cancelled (`abandoned`), so a client that starts
   * runs and reconnects, over and over, cannot fill the server's slots.
   */
  detached (hosted: HostedRun): void {
    if (!hosted.anonymous) return
    let pool = this.#detached.get(hosted.poolKey)
    if (pool === undefined) {
      pool = new Set()
      this.#detached.set(hosted.poolKey, pool)
    }
    pool.add(hosted)
    if (pool.size > this.#poolCap) {
      const victim = oldestOfLargestOwner(pool)
      this.undetached(victim)
      victim.run.cancel('abandoned')
    }
  }

  /** @internal Attached again, ended or forgotten. */
  undetached (hosted: HostedRun): void {
    const pool = this.#detached.get(hosted.poolKey)
    if (pool?.delete(hosted) === true && pool.size === 0) this.#detached.delete(hosted.poolKey)
  }

  /** @internal Drops a run and its log. */
  forget (hosted: HostedRun): void {
    if (this.#byKey.get(hosted.key) !== hosted) return
    this.#byKey.delete(hosted.key)
    this.#byToken.delete(hosted.resumeToken)
    clearTimeout(this.#retainTimers.get(hosted))
    this.#retainTimers.delete(hosted)
    const owned = this.#byOwner.get(hosted.ownerId)
    if (owned?.get(hosted.runId) === hosted) {
      owned.delete(hosted.runId)
      if (owned.size === 0) this.#byOwner.delete(hosted.ownerId)
    }
    const kept = this.#retained.get(hosted.poolKey)
    if (kept !== undefined) {
      const index = kept.indexOf(hosted)
      if (index !== -1) kept.splice(index, 1)
      if (kept.length === 0) this.#retained.delete(hosted.poolKey)
    }
    this.undetached(hosted)
    this.#store.drop(hosted.key)
  }

  /** Cancels the runs still waiting for a server slot (before the active ones, whose slots would start them). */
  cancelQueued (reason: CancelReason): void {
    for (const hosted of this.#byKey.values()) if (hosted.run.waiting) hosted.run.cancel(reason)
  }

  /** fastify.close(): every run is cancelled (queued ones first), attached or not. */
  shutdown (): void {
    this.cancelQueued('shutdown')
    for (const hosted of this.#byKey.values()) hosted.shutdown()
  }

  /** After the connections closed: every log goes. */
  clear (): void {
    for (const hosted of [...this.#byKey.values()]) this.forget(hosted)
    this.threads.clear()
  }
}

/** The oldest run of the owner with the most runs in `runs` (oldest first): who pays when a shared pool overflows. */
function oldestOfLargestOwner (runs: Iterable<HostedRun>): HostedRun {
  const byOwner = new Map<string, HostedRun[]>()
  for (const hosted of runs) {
    const mine = byOwner.get(hosted.ownerId)
    if (mine === undefined) byOwner.set(hosted.ownerId, [hosted])
    else mine.push(hosted)
  }
  let largest: HostedRun[] = []
  for (const mine of byOwner.values()) if (mine.length > largest.length) largest = mine
  return largest[0] as HostedRun
}
