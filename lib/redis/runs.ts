import { randomBytes, randomUUID } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import { Redis, type RedisOptions } from 'ioredis'
import { Attachment } from '../attachment.js'
import type { AttachOptions, DirectoryContext, RunDirectory, RunFigures, RunsFactory, SharedRun } from '../directory.js'
import {
  DuplicateRunIdError, InvalidOptionError, RunError, ThreadBusyError, TooManyThreadsError, TooManyWatchersError, UnknownRequestError, type AutogenStreamError
} from '../errors.js'
import { rejectUnknownOptions, type Config } from '../options.js'
import type { LeaveReason, StartParams } from '../runs.js'
import { isTerminal, type CancelReason, type RunFrame, type RunSummary, type StartAnswer, type StartedFrame, type TerminalFrame } from '../schemas/frames.js'
import { LogGapError, type LogEntry, type PendingInput } from '../store/types.js'
import { Keys, idOf, seqOf, type RunKeys } from './keys.js'
import { RedisLogReader, type ReaderSource } from './reader.js'
import { ANSWER, COMMIT, CONTROL, HOST_GONE, LEAVE, THREAD_DELETE, THREAD_READ, THREAD_START, THREADS_FORGET } from './scripts.js'
import { RedisThreadStore, WORKER_DIED, type Command, type PendingText } from './threads.js'
import { Threads } from '../threads.js'

/*
 * Runs held in Redis (docs/redis.md): this gateway starts them (a request
 * for the worker hosts), finds them for `attach` (by owner or by token,
 * whichever gateway started them), and reads their logs for the
 * connections attached here. It holds nothing a client depends on.
 *
 *   RedisRuns ── remote runs read here, by key ── RemoteRun ── tail loop: XREAD BLOCK on the log (one connection)
 *                                                     └─ RedisLogReader per attached connection (XRANGE windows)
 */

export interface RedisRunsOptions {
  /** redis:// URL (default redis://127.0.0.1:6379), or an ioredis instance the app owns. */
  url?: string
  redis?: Redis
  /** ioredis options for the connections this gateway makes. */
  redisOptions?: RedisOptions
  /** Key prefix, the same on every gateway and host (default 'ags:'). */
  prefix?: string
  /** Frames fetched ahead of each connection's socket (default 64). */
  readWindow?: number
  /** How long a tail read blocks; a quiet log is checked for a dead host this often (default 1000 ms). */
  heartbeat?: number
  /** A reader whose gateway has not renewed it for this long no longer holds the run (default 10000 ms). */
  readerTtl?: number
  /** How long owner and token lookups outlive a run's start (default 24 h). */
  keyTtl?: number
}

/** Every option of redisRuns (docs/redis.md's table is checked against it). */
export const REDIS_OPTION_NAMES = ['url', 'redis', 'redisOptions', 'prefix', 'readWindow', 'heartbeat', 'readerTtl', 'keyTtl'] as const

/** Runs on worker hosts behind Redis Streams, instead of a `runner` in this process. Options are checked here, once. */
export function redisRuns (options: RedisRunsOptions = {}): RunsFactory {
  if (typeof options !== 'object' || options === null) throw new InvalidOptionError('redisRuns', 'expected an object of options', String(options))
  rejectUnknownOptions(options as Record<string, unknown>, REDIS_OPTION_NAMES, 'redisRuns.')
  if (options.url !== undefined && (typeof options.url !== 'string' || !/^rediss?:\/\//.test(options.url))) {
    throw new InvalidOptionError('redisRuns.url', 'expected a redis:// or rediss:// URL', JSON.stringify(options.url))
  }
  if (options.prefix !== undefined && (typeof options.prefix !== 'string' || options.prefix === '')) {
    throw new InvalidOptionError('redisRuns.prefix', 'expected a non-empty string', JSON.stringify(options.prefix))
  }
  for (const name of ['readWindow', 'heartbeat', 'readerTtl', 'keyTtl'] as const) {
    const value = options[name]
    if (value !== undefined && (!Number.isInteger(value) || value < 1)) throw new InvalidOptionError(`redisRuns.${name}`, 'expected a positive integer', JSON.stringify(value))
  }
  return { kind: 'redis', create: (context) => new RedisRuns(options, context) }
}

type XEntry = [id: Buffer, fields: Buffer[]]

/** Idle blocking connections a gateway keeps for the next tail loops. */
const IDLE_BLOCKERS = 4

function entryOf (id: Buffer | string, fields: Buffer[]): LogEntry | undefined {
  const data = fields[1]
  if (data === undefined) return undefined
  const seq = seqOf(id.toString())
  try {
    return { seq, frame: JSON.parse(data.toString()) as RunFrame, data, size: data.length }
  } catch {
    return undefined
  }
}

interface Meta { owner?: string, runId?: string, state?: string, host?: string, outcome?: string }

type ScriptName = 'agsCommit' | 'agsLeave' | 'agsAnswer' | 'agsControl' | 'agsHostGone' | 'agsThreadStart' | 'agsThreadRead' | 'agsThreadDelete' | 'agsThreadsForget'

export class RedisRuns implements RunDirectory {
  readonly config: Config
  readonly keys: Keys
  readonly readWindow: number
  readonly heartbeat: number
  readonly readerTtl: number
  readonly keyTtl: number
  readonly gatewayId = randomUUID()
  readonly log: FastifyBaseLogger
  readonly cmd: Redis
  readonly #ownsCmd: boolean
  readonly threadStore: RedisThreadStore
  /** Threads of identities, in Redis (threads.ts): shared by every gateway. */
  readonly threads: Threads<RedisThreadStore>
  /** Runs read on this gateway, by key. */
  readonly #reading = new Map<string, RemoteRun>()
  /** Idle blocking connections, for the next tail loop. */
  readonly #blockers: Redis[] = []
  readonly #busyBlockers = new Set<Redis>()
  #readers = 0
  #renew: NodeJS.Timeout | undefined
  #beating: NodeJS.Timeout | undefined
  closed = false

  constructor (options: RedisRunsOptions, context: DirectoryContext) {
    this.config = context.config
    this.log = context.log
    this.keys = new Keys(options.prefix ?? 'ags:')
    this.readWindow = options.readWindow ?? 64
    this.heartbeat = options.heartbeat ?? 1000
    this.readerTtl = options.readerTtl ?? 10_000
    this.keyTtl = options.keyTtl ?? 24 * 3600_000
    this.#ownsCmd = options.redis === undefined
    // Commands fail at once while Redis is away (the client gets AGS_STORE_UNAVAILABLE) instead of queueing for ever.
    // and a command Redis does not answer (a frozen server) fails after 5 s rather than never.
    this.cmd = options.redis ?? new Redis(options.url ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: 1, enableOfflineQueue: false, commandTimeout: 5000, lazyConnect: false, ...options.redisOptions })
    this.cmd.on('error', (err: Error) => this.log.warn({ err: err.message }, 'autogen-stream: redis'))
    this.cmd.defineCommand('agsCommit', { numberOfKeys: 5, lua: COMMIT })
    this.cmd.defineCommand('agsLeave', { numberOfKeys: 3, lua: LEAVE })
    this.cmd.defineCommand('agsAnswer', { numberOfKeys: 3, lua: ANSWER })
    this.cmd.defineCommand('agsControl', { numberOfKeys: 2, lua: CONTROL })
    this.cmd.defineCommand('agsHostGone', { numberOfKeys: 7, lua: HOST_GONE })
    this.cmd.defineCommand('agsThreadStart', { numberOfKeys: 2, lua: THREAD_START })
    this.cmd.defineCommand('agsThreadRead', { numberOfKeys: 1, lua: THREAD_READ })
    this.cmd.defineCommand('agsThreadDelete', { numberOfKeys: 2, lua: THREAD_DELETE })
    this.cmd.defineCommand('agsThreadsForget', { numberOfKeys: 1, lua: THREADS_FORGET })
    this.threadStore = new RedisThreadStore(this)
    this.threads = new Threads(this.threadStore, this.config.maxThreadsPerIdentity)
    // Readers stay alive in Redis while this gateway reads them.
    this.#renew = setInterval(() => this.#renewReaders(), Math.max(100, Math.floor(this.readerTtl / 3))).unref()
    // This gateway's own heartbeat: when it dies, hosts stop counting its
    // readers within 3 heartbeats, instead of waiting for readerTtl.
    this.#beat()
    this.#beating = setInterval(() => this.#beat(), this.heartbeat).unref()
  }

  /** Waits (up to connectTimeout, 10 s by default) for the connection, so that the first start does not find it still connecting. */
  async ready (): Promise<void> {
    const limit = this.cmd.options.connectTimeout ?? 10_000
    const connected = this.cmd.status === 'ready' || await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => { this.cmd.off('ready', onReady); resolve(false) }, limit)
      const onReady = (): void => { clearTimeout(timer); resolve(true) }
      this.cmd.once('ready', onReady)
    })
    if (!connected) {
      this.log.error({ status: this.cmd.status }, 'autogen-stream: Redis cannot be reached yet; starts and attaches get AGS_STORE_UNAVAILABLE until it can')
      return
    }
    // Alive before the first reader: a host counts a gateway's readers only while its key lives.
    await this.cmd.set(this.keys.gateway(this.gatewayId), '1', 'PX', this.heartbeat * 3).catch(() => {})
  }

  /** A script defined above, typed loosely (ioredis adds them at run time). */
  script (name: ScriptName, keys: string[], args: Array<string | number>): Promise<unknown> {
    return (this.cmd as unknown as Record<string, (...a: Array<string | number>) => Promise<unknown>>)[name]!(...keys, ...args)
  }

  /** `g:<gateway>:<n>`: a host counts the reader only while its gateway's heartbeat key lives. */
  readerId (): string {
    return `g:${this.gatewayId}:${++this.#readers}`
  }

  async start (params: StartParams): Promise<SharedRun | AutogenStreamError> {
    const { frame, runId, identity, version } = params
    const ownerKey = this.keys.owner(identity.id, runId)
    const previous = await this.cmd.get(ownerKey)
    if (previous !== null) {
      const state = await this.cmd.hget(this.keys.run(previous).meta, 'state')
      if (state !== null && state !== 'ended') return new DuplicateRunIdError(runId)
    }
    // An answer continues the question the thread's state waits at (its last
    // run was interrupted there): read here for its prompt and source, which
    // the request carries to the host; THREAD_START claims the thread only
    // while the record still holds exactly this. Checked before
    // authorizeRun, as in-process (the claim comes before the run).
    let answering: PendingText | undefined
    if (frame.answer !== undefined) {
      answering = await this.threadStore.pending(identity.id, frame.threadId)
      // The same answer for no thread, another identity's (another key), and one that waits for another request.
      if (answering?.value.requestId !== frame.answer.requestId) return new UnknownRequestError(`Thread "${frame.threadId}"`, frame.answer.requestId)
    }
    // An answer is the task of the run it starts (as in-process: what authorizeRun sees).
    let task = frame.task ?? frame.answer?.content ?? ''
    let options = frame.options ?? {}
    let refused: RunError | undefined
    if (this.config.authorizeRun !== undefined) {
      try {
        const rewrite = await this.config.authorizeRun(identity, { runId, task, options })
        if (rewrite !== undefined && rewrite !== null) {
          if ('task' in rewrite && rewrite.task !== undefined) task = rewrite.task as typeof task
          if ('options' in rewrite && rewrite.options !== undefined) options = rewrite.options
        }
      } catch (err) {
        refused = err instanceof RunError ? err : RunError.of('AGS_RUN_REFUSED', [], { cause: err })
        params.log.info({ err }, 'autogen-stream: authorizeRun refused the run')
      }
    }
    const key = randomUUID()
    const token = randomBytes(24).toString('base64url')
    const k = this.keys.run(key)
    const now = Date.now()
    const started: StartedFrame = { type: 'started', runId, seq: 0 }
    // A refused run touches no thread: it ends at once, with nothing to save.
    const threadId = refused === undefined ? frame.threadId : undefined
    const meta = ['owner', identity.id, 'runId', runId, 'state', refused === undefined ? 'queued' : 'ended', 'created', String(now)]
    // The thread's key, for whoever ends the run without its host (HOST_GONE) and for the host that runs it.
    if (threadId !== undefined) meta.push('thread', this.keys.thread(identity.id, threadId))
    const commands: Command[] = [
      ['hset', k.meta, ...meta],
      ['set', ownerKey, key, 'PX', this.keyTtl],
      ['set', this.keys.token(token), key, 'PX', this.keyTtl],
      ['zadd', this.keys.owned(identity.id), now, runId],
      ['zremrangebyscore', this.keys.owned(identity.id), '-inf', now - this.keyTtl],
      ['pexpire', this.keys.owned(identity.id), this.keyTtl],
      ['xadd', k.log, idOf(0), 'f', JSON.stringify(started)]
    ]
    if (refused === undefined) {
      const spec = {
        run: key,
        run_id: runId,
        task,
        options,
        identity,
        retain: {
          events: this.config.retainEvents,
          bytes: this.config.retainBytes,
          afterEnd: this.config.retainAfterEnd,
          lag: this.config.maxRunLag.events,
          // With nobody reading it for this long, the host cancels it (abandoned). v1 and onDisconnect 'cancel' runs are cancelled by their gateway.
          detach: version !== 'autogen-stream.v1' && this.config.onDisconnect === 'continue' ? this.config.detachTimeout : 0
        },
        // The host loads the thread's state (the meta's `thread` names it) and keeps what the run saves, up to maxStateBytes.
        ...(threadId !== undefined ? { thread: this.#threadSpec(threadId, frame.answer, answering?.value) } : {})
      }
      commands.push(['xadd', this.keys.requests, '*', 'key', key, 'spec', JSON.stringify(spec)])
    } else {
      const error = { type: 'error', runId, seq: 1, code: refused.code, message: refused.message }
      commands.push(['xadd', k.log, idOf(1), 'f', JSON.stringify(error)], ['hset', k.meta, 'outcome', 'error'])
      for (const name of [k.log, k.meta]) commands.push(['pexpire', name, this.config.retainAfterEnd])
    }
    if (threadId !== undefined) {
      const claim = await this.threadStore.start(identity.id, threadId, runId, key, commands, answering?.text)
      if (!claim.claimed) {
        // Answered meanwhile: another start's run saved a state, which no longer waits at this question.
        if ('unknownRequest' in claim) return new UnknownRequestError(`Thread "${threadId}"`, frame.answer?.requestId ?? '')
        return 'busy' in claim ? new ThreadBusyError(threadId, claim.busy) : new TooManyThreadsError(this.config.maxThreadsPerIdentity)
      }
    } else {
      const results = await this.cmd.multi(commands).exec()
      const failed = results?.find(([err]) => err !== null)
      if (results === null || failed !== undefined) throw failed?.[0] ?? new Error('the transaction was aborted')
    }
    const run = new RemoteRun(this, key, {
      runId,
      resumeToken: version === 'autogen-stream.v1' ? undefined : token,
      cancelOnDisconnect: version === 'autogen-stream.v1' || this.config.onDisconnect === 'cancel',
      head: refused === undefined ? 0 : 1,
      oldest: 0,
      state: refused === undefined ? 'queued' : 'ended',
      terminal: undefined
    })
    if (refused !== undefined) await run.loadTerminal()
    return run
  }

  /**
   * A thread run's `thread` in its request: the state's limit; how long
   * its host holds an input request before it interrupts the run there
   * (holdInputFor; null: never, JSON has no Infinity); and, for a start
   * that answers, the answer with the question's prompt and source.
   */
  #threadSpec (threadId: string, answer: StartAnswer | undefined, pending: PendingInput | undefined): Record<string, unknown> {
    const hold = this.config.holdInputFor
    const spec: Record<string, unknown> = { id: threadId, maxStateBytes: this.config.maxThreadStateBytes, holdInputFor: Number.isFinite(hold) ? hold : null }
    if (answer !== undefined && pending !== undefined) {
      spec.answer = { requestId: answer.requestId, content: answer.content, prompt: pending.prompt, ...(pending.source === undefined ? {} : { source: pending.source }) }
    }
    return spec
  }

  async find (identityId: string, runId: string, resumeToken?: string): Promise<SharedRun | undefined> {
    const key = await this.cmd.get(resumeToken === undefined ? this.keys.owner(identityId, runId) : this.keys.token(resumeToken))
    if (key === null) return undefined
    const k = this.keys.run(key)
    const [meta, first, last] = await this.#look(k)
    // Looked up after the awaits: another connection here may have just started reading it.
    const reading = this.#reading.get(key)
    if (meta.runId !== runId || meta.state === undefined) return undefined
    // Without a token, only the owner; with one, the token is the proof.
    if (resumeToken === undefined && meta.owner !== identityId) return undefined
    const head = last === undefined ? -1 : last.seq
    const terminal = last !== undefined && isTerminal(last.frame) ? last : undefined
    if (reading !== undefined) {
      reading.refresh(head, first?.seq ?? 0, terminal)
      return reading
    }
    return new RemoteRun(this, key, {
      runId,
      resumeToken: undefined,
      cancelOnDisconnect: this.config.onDisconnect === 'cancel',
      head,
      oldest: first?.seq ?? 0,
      state: meta.state === 'queued' ? 'queued' : terminal !== undefined ? 'ended' : 'running',
      terminal
    })
  }

  async list (identityId: string): Promise<RunSummary[]> {
    const runIds = await this.cmd.zrange(this.keys.owned(identityId), 0, -1)
    const summaries: RunSummary[] = []
    for (const runId of runIds) {
      const key = await this.cmd.get(this.keys.owner(identityId, runId))
      if (key === null) continue
      const k = this.keys.run(key)
      const [meta, , last] = await this.#look(k)
      if (meta.runId !== runId || meta.state === undefined) continue
      const watchers = await this.cmd.zcount(k.alive, Date.now() - this.readerTtl, '+inf')
      const summary: RunSummary = {
        runId,
        state: meta.state === 'queued' ? 'queued' : meta.state === 'ended' ? 'ended' : 'running',
        lastSeq: last?.seq ?? 0,
        watchers
      }
      if (meta.outcome === 'result' || meta.outcome === 'cancelled' || meta.outcome === 'error' || meta.outcome === 'interrupted') summary.outcome = meta.outcome
      summaries.push(summary)
    }
    return summaries
  }

  /** The meta hash, and the first and last entries of the log. */
  async #look (k: RunKeys): Promise<[Meta, LogEntry | undefined, LogEntry | undefined]> {
    const results = await this.cmd.pipeline()
      .hgetall(k.meta)
      .xrangeBuffer(k.log, '-', '+', 'COUNT', 1)
      .xrevrangeBuffer(k.log, '+', '-', 'COUNT', 1)
      .exec()
    const failed = results?.find(([err]) => err !== null)
    if (results === null || failed !== undefined) throw failed?.[0] ?? new Error('no answer')
    const meta = results[0]?.[1] as Meta
    const first = (results[1]?.[1] as XEntry[])[0]
    const last = (results[2]?.[1] as XEntry[])[0]
    return [meta, first === undefined ? undefined : entryOf(first[0], first[1]), last === undefined ? undefined : entryOf(last[0], last[1])]
  }

  figures (): RunFigures {
    let attached = 0
    let retained = 0
    let queued = 0
    for (const run of this.#reading.values()) {
      if (run.ended) retained++
      else {
        attached++
        if (run.waiting) queued++
      }
    }
    return { active: attached, attached, detached: 0, queued, retained, logBytes: 0, threads: 0 }
  }

  /** @internal A run gets its first reader on this gateway. */
  reading (run: RemoteRun): void {
    this.#reading.set(run.key, run)
  }

  /** @internal A run's last reader here left. */
  released (run: RemoteRun): void {
    if (this.#reading.get(run.key) === run) this.#reading.delete(run.key)
  }

  /** @internal A connection for one tail loop's XREAD BLOCK. */
  blocker (): Redis {
    let blocker = this.#blockers.pop()
    if (blocker === undefined) {
      // No command timeout here: XREAD BLOCK waits on purpose.
      blocker = this.cmd.duplicate({ maxRetriesPerRequest: null, enableOfflineQueue: true, commandTimeout: undefined })
      // Its errors surface on the read that failed; the connection itself reconnects.
      blocker.on('error', () => {})
    }
    this.#busyBlockers.add(blocker)
    return blocker
  }

  /** @internal */
  returnBlocker (blocker: Redis): void {
    this.#busyBlockers.delete(blocker)
    // A few are kept for the next runs; beyond, a burst of runs read at once leaves no connections behind.
    if (this.closed || this.#blockers.length >= IDLE_BLOCKERS) blocker.disconnect()
    else this.#blockers.push(blocker)
  }

  /**
   * Vouches for this gateway's readers, with their positions: so they stay
   * alive for the hosts, and a Redis that lost them (a restart) learns them
   * again (a run whose readers it no longer knows would wait for them).
   */
  #beat (): void {
    this.cmd.set(this.keys.gateway(this.gatewayId), '1', 'PX', this.heartbeat * 3).catch(() => {})
  }

  #renewReaders (): void {
    for (const run of this.#reading.values()) run.recommit()
  }

  /** Closing a gateway does not end runs: they go on on their hosts, for clients to attach elsewhere. */
  shutdown (): void {
    this.closed = true
    for (const run of this.#reading.values()) run.stop()
  }

  clear (): void {
    this.closed = true
    clearInterval(this.#renew)
    clearInterval(this.#beating)
    if (this.cmd.status === 'ready') this.cmd.del(this.keys.gateway(this.gatewayId)).catch(() => {})
    for (const run of this.#reading.values()) run.stop()
    this.#reading.clear()
    for (const blocker of [...this.#blockers, ...this.#busyBlockers]) blocker.disconnect()
    this.#blockers.length = 0
    this.#busyBlockers.clear()
    if (this.#ownsCmd) this.cmd.disconnect()
  }
}

interface RemoteInit {
  runId: string
  resumeToken: string | undefined
  cancelOnDisconnect: boolean
  head: number
  oldest: number
  state: 'queued' | 'running' | 'ended'
  terminal: LogEntry | undefined
}

/** A run on a worker host, as this gateway reads it. */
export class RemoteRun implements SharedRun, ReaderSource {
  readonly key: string
  readonly k: RunKeys
  readonly runId: string
  readonly resumeToken: string | undefined
  readonly cancelOnDisconnect: boolean
  head: number
  oldest: number
  #state: 'queued' | 'running' | 'ended'
  terminal: LogEntry | undefined
  readonly #dir: RedisRuns
  readonly #readers = new Map<Attachment, RedisLogReader>()
  #tail: Promise<void> | undefined
  #stopped = false
  #commits = new Set<RedisLogReader>()
  #commitScheduled = false
  /** Redis no longer has the run (restarted without its data). */
  #lost = false

  constructor (dir: RedisRuns, key: string, init: RemoteInit) {
    this.#dir = dir
    this.key = key
    this.k = dir.keys.run(key)
    this.runId = init.runId
    this.resumeToken = init.resumeToken
    this.cancelOnDisconnect = init.cancelOnDisconnect
    this.head = init.head
    this.oldest = init.oldest
    this.#state = init.state
    this.terminal = init.terminal
  }

  get ended (): boolean { return this.terminal !== undefined || this.#lost }
  get watchers (): number { return this.#readers.size }
  get waiting (): boolean { return this.#state === 'queued' }

  readerIds (): string[] {
    return [...this.#readers.values()].map((r) => r.id)
  }

  refresh (head: number, oldest: number, terminal: LogEntry | undefined): void {
    if (head > this.head) this.head = head
    this.oldest = oldest
    if (terminal !== undefined) this.terminal = terminal
  }

  async loadTerminal (): Promise<void> {
    const last = await this.#dir.cmd.xrevrangeBuffer(this.k.log, '+', '-', 'COUNT', 1) as XEntry[]
    const entry = last[0] === undefined ? undefined : entryOf(last[0][0], last[0][1])
    if (entry !== undefined && isTerminal(entry.frame)) {
      this.terminal = entry
      this.head = entry.seq
    }
  }

  attach (after: number, opts: AttachOptions): Attachment | AutogenStreamError {
    if (after !== -1 && after < this.oldest - 1) throw new LogGapError(after, this.oldest, this.head, this.terminal?.frame as TerminalFrame | undefined)
    const dir = this.#dir
    const max = dir.config.maxWatchersPerRun
    if (this.#readers.size >= max) return new TooManyWatchersError(this.runId, max)
    const reader = new RedisLogReader(dir.readerId(), this, after === -1 ? this.oldest - 1 : after, dir.readWindow, opts.notify)
    const attachment = new Attachment(this.runId, reader, {
      version: opts.version,
      coalesceTokens: dir.config.coalesceTokens,
      maxTokenFrameChars: dir.config.maxTokenFrameChars,
      ...(opts.starter && opts.version !== 'autogen-stream.v1' && this.resumeToken !== undefined ? { resumeToken: this.resumeToken } : {})
    })
    this.#readers.set(attachment, reader)
    dir.reading(this)
    // Registered at once, so the host neither trims past it nor counts without it.
    this.committed(reader)
    reader.fetch()
    this.#watch()
    return attachment
  }

  leave (attachment: Attachment, reason: LeaveReason): void {
    const reader = this.#readers.get(attachment)
    if (reader === undefined) return
    this.#readers.delete(attachment)
    attachment.close()
    this.#commits.delete(reader)
    this.#dir.script('agsLeave', [this.k.readers, this.k.alive, this.k.meta], [reader.id]).catch((err: unknown) => this.#warn(err))
    if (this.#readers.size === 0) {
      this.#dir.released(this)
      if (this.cancelOnDisconnect && !this.ended && reason !== 'client' && reason !== 'lagging') this.cancel(reason)
    }
  }

  cancel (reason: CancelReason): boolean {
    if (this.ended) return false
    this.#dir.script('agsControl', [this.k.ctl, this.k.meta], ['cancel', 'reason', reason]).catch((err: unknown) => this.#warn(err))
    return true
  }

  requestStop (): boolean {
    if (this.ended) return false
    this.#dir.script('agsControl', [this.k.ctl, this.k.meta], ['stop']).catch((err: unknown) => this.#warn(err))
    return true
  }

  async answer (requestId: string, content: string): Promise<boolean> {
    return await this.#dir.script('agsAnswer', [this.k.inputs, this.k.ctl, this.k.meta], [requestId, content]) === 1
  }

  // ReaderSource

  async range (after: number, count: number): Promise<LogEntry[]> {
    const start = after < 0 ? '-' : `(${idOf(after)}`
    const entries = await this.#dir.cmd.xrangeBuffer(this.k.log, start, '+', 'COUNT', count) as XEntry[]
    const out: LogEntry[] = []
    for (const [id, fields] of entries) {
      const entry = entryOf(id, fields)
      if (entry !== undefined) out.push(entry)
    }
    return out
  }

  /** Positions go to Redis once per turn of the loop, for all readers of this run that moved. */
  committed (reader: RedisLogReader): void {
    this.#commits.add(reader)
    if (this.#commitScheduled) return
    this.#commitScheduled = true
    setImmediate(() => {
      this.#commitScheduled = false
      const readers = [...this.#commits]
      this.#commits.clear()
      for (const r of readers) {
        if (r.closed) continue
        this.#dir.script('agsCommit', [this.k.readers, this.k.alive, this.k.far, this.k.ctl, this.k.meta], [r.id, r.position]).catch((err: unknown) => this.#warn(err))
      }
    })
  }

  /** Every reader's position again (renewal). */
  recommit (): void {
    for (const reader of this.#readers.values()) this.committed(reader)
  }

  failed (reader: RedisLogReader, err: unknown): void {
    this.#warn(err)
    // Read again a little later: Redis may be back.
    setTimeout(() => reader.fetch(), this.#dir.heartbeat).unref()
  }

  /**
   * Redis lost the run (a restart without persistence): each reader here
   * ends with an error frame right after what it had, instead of a hole in
   * its seqs or a wait for ever.
   */
  lost (): void {
    if (this.#lost || this.terminal !== undefined) return
    this.#lost = true
    this.#dir.log.warn({ runKey: this.key }, 'autogen-stream: the run store lost this run (Redis restarted without its data?)')
    const message = 'The run store lost this run (Redis restarted without its data)'
    for (const reader of this.#readers.values()) {
      reader.end((seq) => {
        const frame = { type: 'error' as const, runId: this.runId, seq, code: 'AGS_STORE_UNAVAILABLE', message }
        const data = JSON.stringify(frame)
        return { seq, frame, data, size: Buffer.byteLength(data) }
      })
    }
  }

  /** Stops the tail loop (the gateway closes). */
  stop (): void {
    this.#stopped = true
  }

  #warn (err: unknown): void {
    this.#dir.log.warn({ err: (err as Error)?.message ?? String(err), runKey: this.key }, 'autogen-stream: redis run')
  }

  /** Follows the log's head while anyone here reads it: XREAD BLOCK, and on a quiet log, is the host still there? */
  #watch (): void {
    if (this.#tail !== undefined || this.ended) return
    this.#tail = (async () => {
      const dir = this.#dir
      const blocker = dir.blocker()
      try {
        while (this.#readers.size > 0 && !this.ended && !this.#stopped && !dir.closed) {
          let res: Array<[Buffer, XEntry[]]> | null
          try {
            res = await blocker.xreadBuffer('COUNT', 256, 'BLOCK', dir.heartbeat, 'STREAMS', this.k.log, idOf(Math.max(this.head, 0))) as Array<[Buffer, XEntry[]]> | null
          } catch (err) {
            this.#warn(err)
            await new Promise((resolve) => setTimeout(resolve, dir.heartbeat).unref())
            continue
          }
          const entries = res?.[0]?.[1] ?? []
          if (entries.length > 0) {
            for (const [id, fields] of entries) {
              const entry = entryOf(id, fields)
              if (entry === undefined) continue
              this.head = Math.max(this.head, entry.seq)
              if (this.#state === 'queued') this.#state = 'running'
              if (isTerminal(entry.frame)) {
                this.terminal = entry
                this.#state = 'ended'
              }
            }
            for (const reader of this.#readers.values()) reader.fetch()
            continue
          }
          // A quiet log: a run whose host is gone gets its terminal error, written once by whoever sees it first.
          try {
            if (await dir.cmd.exists(this.k.meta) === 0) {
              this.lost()
              break
            }
            await dir.script('agsHostGone', [this.k.log, this.k.meta, this.k.ctl, this.k.inputs, this.k.readers, this.k.alive, this.k.far],
              [dir.keys.prefix, ...WORKER_DIED, dir.config.retainAfterEnd, this.key])
          } catch (err) {
            this.#warn(err)
          }
        }
      } finally {
        dir.returnBlocker(blocker)
        this.#tail = undefined
      }
      // Readers came back while the loop was ending.
      if (this.#readers.size > 0 && !this.ended && !this.#stopped && !dir.closed) this.#watch()
    })()
  }
}
