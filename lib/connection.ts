import { randomBytes, randomUUID } from 'node:crypto'
import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import type { RawData, WebSocket } from 'ws'
import {
  BadFrameError, BadJsonError, BinaryFrameError, DuplicateRunIdError, FrameTooLargeError,
  HeartbeatTimeoutError, IdleTimeoutError, SlowConsumerError, TooManyBadFramesError, TooManyRunsError,
  BusyError, RateLimitedError, TaskTooLargeError, TooManyRunsForIdentityError,
  UnknownRequestError, UnknownRunError, closeCodeOf, type AutogenStreamError
} from './errors.js'
import { nestsDeeperThan } from './json-depth.js'
import type { Config } from './options.js'
import { identityOf } from './auth.js'
import type { Identity } from './runner.js'
import type { RunRegistry } from './registry.js'
import { TokenBucket, type AddressCounts, type RunAdmission } from './limits.js'
import { Run } from './run.js'
import { Sender } from './sender.js'
import type { Counters } from './stats.js'
import {
  checkClientFrame, type CancelFrame, type CancelReason, type StopFrame, type ConnectionErrorFrame, type InputFrame, type StartFrame
} from './schemas/frames.js'

/** What every connection of one plugin instance shares. */
export interface PluginState {
  config: Config
  registry: RunRegistry
  counters: Counters
  connections: Set<Connection>
  addresses: AddressCounts
  admission: RunAdmission
  /** Active runs (until their terminal frame) by identity id, over all connections. */
  identityRuns: Map<string, number>
}

const OPEN = 1

/**
 * One WebSocket: parses and checks client frames, starts and cancels runs,
 * keeps the heartbeat and the idle timer. Runs live in the registry; the
 * connection only holds the ids of the runs it watches, and its sender
 * writes their frames.
 */
export class Connection {
  readonly #state: PluginState
  readonly #ws: WebSocket
  readonly #request: FastifyRequest
  /** Who is on this connection: authenticate()'s identity, or an anonymous one. */
  readonly #identity: Identity
  readonly #log: FastifyBaseLogger
  readonly #sender: Sender
  /** This connection's runs by runId (the registry holds them by the server's key). */
  readonly #runs = new Map<string, Run>()
  #badFrames = 0
  readonly #bucket: TokenBucket
  #missedPongs = 0
  /** The payload of our last ping: only a pong that echoes it proves the peer reads. */
  #pingPayload: Buffer | undefined
  #idleTimer: NodeJS.Timeout | undefined
  #graceTimer: NodeJS.Timeout | undefined
  #closed = false
  readonly closed: Promise<void>

  /** Serves one upgraded socket; the connection lives as long as the socket (state.connections holds it). */
  static open (state: PluginState, ws: WebSocket, request: FastifyRequest): Connection {
    return new Connection(state, ws, request)
  }

  private constructor (state: PluginState, ws: WebSocket, request: FastifyRequest) {
    this.#state = state
    this.#ws = ws
    this.#request = request
    this.#identity = identityOf(request)
    this.#bucket = new TokenBucket(state.config.frameRate, state.config.frameBurst)
    this.#log = request.log
    const { config } = state
    this.#sender = new Sender(ws, state.counters, config, {
      onStall: (bytes) => {
        this.#log.warn({ bufferedBytes: bytes }, 'autogen-stream: slow consumer, closing')
        this.end(new SlowConsumerError(config.stallTimeout, bytes), 'slow_consumer')
      }
    })
    state.connections.add(this)
    state.counters.connections++
    this.closed = new Promise((resolve) => {
      ws.once('close', () => {
        this.#onClose()
        resolve()
      })
    })
    ws.on('message', (data, isBinary) => this.#onMessage(data, isBinary))
    ws.on('pong', (data) => this.#onPong(data))
    this.#armIdle()
  }

  #onMessage (data: RawData, isBinary: boolean): void {
    // Frames still arriving after a close started (shutdown, slow consumer) start nothing.
    if (this.#closed || this.#ws.readyState !== OPEN) return
    const size = Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : (data as Buffer).byteLength
    if (size > this.#state.config.maxPayload) {
      this.end(new FrameTooLargeError(size, this.#state.config.maxPayload), 'client')
      return
    }
    if (isBinary) {
      this.end(new BinaryFrameError(), 'client')
      return
    }
    if (!this.#bucket.take()) {
      this.#reject(new RateLimitedError(this.#state.config.frameRate, this.#state.config.frameBurst))
      return
    }
    const text = data.toString()
    // The frame is 1 level; task and options may nest maxFrameDepth below it.
    const maxDepth = this.#state.config.maxFrameDepth
    if (nestsDeeperThan(text, maxDepth + 1)) {
      this.#reject(new BadFrameError(`task and options may nest at most ${maxDepth} levels (maxFrameDepth)`))
      return
    }
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch (err) {
      this.#reject(new BadJsonError((err as Error).message))
      return
    }
    const checked = checkClientFrame(value)
    if ('reason' in checked) {
      const ref = typeof value === 'object' && value !== null ? refOf(value as Record<string, unknown>) : undefined
      this.#reject(new BadFrameError(checked.reason), ref)
      return
    }
    const frame = checked.frame
    switch (frame.type) {
      case 'start': this.#start(frame); break
      case 'cancel': this.#cancel(frame); break
      case 'stop': this.#stop(frame); break
      case 'input': this.#input(frame); break
    }
  }

  /** A client frame that cannot be served: an error frame, or a close once there were too many. */
  #reject (err: AutogenStreamError, ref?: ConnectionErrorFrame['ref']): void {
    if (++this.#badFrames > this.#state.config.maxBadFrames) {
      this.end(new TooManyBadFramesError(this.#badFrames), 'client')
      return
    }
    this.#answer(err, ref)
  }

  /** An error frame that is not the client's fault (the server is busy): it does not count toward maxBadFrames. */
  #answer (err: AutogenStreamError, ref?: ConnectionErrorFrame['ref']): void {
    const frame: ConnectionErrorFrame = { type: 'error', code: err.code, message: err.message }
    if (ref !== undefined) frame.ref = ref
    this.#sender.sendNow(frame)
  }

  #start (frame: StartFrame): void {
    const { config, registry, counters } = this.#state
    const runId = frame.runId ?? randomUUID()
    // Every run counts until its terminal frame is written, cancelled ones
    // too: a client that cancels and never reads cannot pile up runs.
    if (this.#runs.size >= config.maxRunsPerConnection) {
      this.#reject(new TooManyRunsError(config.maxRunsPerConnection), { type: 'start', runId })
      return
    }
    // A runId is taken until that run's last frame is out: frames of two runs must never share one.
    if (this.#runs.has(runId)) {
      this.#reject(new DuplicateRunIdError(runId), { type: 'start', runId })
      return
    }
    const taskBytes = Buffer.byteLength(JSON.stringify(frame.task))
    if (taskBytes > config.maxTaskBytes) {
      this.#reject(new TaskTooLargeError(taskBytes, config.maxTaskBytes), { type: 'start', runId })
      return
    }
    const identityId = this.#identity.id
    const identityRuns = this.#state.identityRuns.get(identityId) ?? 0
    if (config.maxRunsPerIdentity !== 0 && identityRuns >= config.maxRunsPerIdentity) {
      this.#reject(new TooManyRunsForIdentityError(config.maxRunsPerIdentity), { type: 'start', runId })
      return
    }
    const { admission } = this.#state
    if (admission.full) {
      this.#answer(new BusyError(admission.active, admission.queued), { type: 'start', runId })
      return
    }
    clearTimeout(this.#idleTimer)
    const run = new Run({
      // The key is the server's, never the client's runId: two clients may pick the same runId.
      request: { runId, key: randomUUID(), task: frame.task, options: frame.options ?? {} },
      runner: config.runner,
      context: { request: this.#request, log: this.#log, identity: this.#identity },
      highWaterMark: config.highWaterMark,
      runTimeout: config.runTimeout,
      inputTimeout: config.inputTimeout,
      coalesceTokens: config.coalesceTokens,
      maxTokenFrameChars: config.maxTokenFrameChars,
      admit: (r) => admission.admit(r)
    })
    counters.runsStarted++
    this.#state.identityRuns.set(identityId, identityRuns + 1)
    run.once('finished', () => {
      const n = (this.#state.identityRuns.get(identityId) ?? 1) - 1
      if (n === 0) this.#state.identityRuns.delete(identityId)
      else this.#state.identityRuns.set(identityId, n)
    })
    this.#runs.set(runId, run)
    registry.add(run)
    run.once('finished', () => {
      if (this.#runs.get(runId) === run) this.#runs.delete(runId)
      this.#armIdle()
    })
    this.#sender.add(run)
  }

  #cancel (frame: CancelFrame): void {
    const run = this.#runs.get(frame.runId)
    if (run === undefined || !run.cancel('client')) {
      this.#reject(new UnknownRunError(frame.runId), { type: 'cancel', runId: frame.runId })
      return
    }
    // A socket that takes bytes gets the `cancelled` frame now, which frees
    // the run's slot at once; a congested one keeps the run counted.
    this.#sender.flushEndingIfFree(run)
  }

  #stop (frame: StopFrame): void {
    const run = this.#runs.get(frame.runId)
    if (run === undefined || !run.requestStop()) {
      this.#reject(new UnknownRunError(frame.runId), { type: 'stop', runId: frame.runId })
    }
  }

  #input (frame: InputFrame): void {
    const run = this.#runs.get(frame.runId)
    if (run === undefined) {
      this.#reject(new UnknownRunError(frame.runId), { type: 'input', runId: frame.runId, requestId: frame.requestId })
    } else if (!run.provideInput(frame.requestId, frame.content)) {
      this.#reject(new UnknownRequestError(frame.runId, frame.requestId),
        { type: 'input', runId: frame.runId, requestId: frame.requestId })
    }
  }

  /** Called by the plugin's shared heartbeat timer. */
  heartbeat (): void {
    if (this.#closed) return
    if (this.#missedPongs >= 2) {
      this.#log.info({ missedPongs: this.#missedPongs }, new HeartbeatTimeoutError(this.#missedPongs).message)
      this.#cancelRuns('heartbeat')
      this.#ws.terminate()
      return
    }
    this.#missedPongs++
    if (this.#ws.readyState === OPEN) {
      this.#pingPayload = randomBytes(8)
      this.#ws.ping(this.#pingPayload)
    }
  }

  /** Unsolicited pongs (allowed by RFC 6455) prove nothing: only the echo of our last ping resets the count. */
  #onPong (data: Buffer): void {
    if (this.#pingPayload !== undefined && this.#pingPayload.equals(data)) {
      this.#pingPayload = undefined
      this.#missedPongs = 0
    }
  }

  #armIdle (): void {
    const timeout = this.#state.config.idleTimeout
    if (timeout === 0 || this.#closed || this.#runs.size > 0) return
    clearTimeout(this.#idleTimer)
    this.#idleTimer = setTimeout(() => {
      if (this.#runs.size === 0) this.end(new IdleTimeoutError(timeout))
    }, timeout).unref()
  }

  #cancelRuns (reason: CancelReason): void {
    this.cancelQueued(reason)
    for (const run of this.#runs.values()) run.cancel(reason)
  }

  /** Cancels the runs still waiting for a server slot (before the active ones, whose slots would start them). */
  cancelQueued (reason: CancelReason): void {
    for (const run of this.#runs.values()) if (run.waiting) run.cancel(reason)
  }

  /**
   * Ends the connection on the server's initiative: every run is cancelled
   * (with `cancelReason`; the idle timeout ends connections that have none),
   * the `cancelled` frames are written even past the byte limit, then a close
   * frame with the code from the error table. A peer that does not finish
   * the close handshake within closeGrace is destroyed.
   */
  end (err: AutogenStreamError, cancelReason?: CancelReason): Promise<void> {
    if (this.#closed || this.#ws.readyState !== OPEN) {
      if (!this.#closed) this.#ws.terminate()
      return this.closed
    }
    if (cancelReason !== undefined) this.#cancelRuns(cancelReason)
    this.#sender.flushEndings()
    this.#ws.close(closeCodeOf(err.code), truncateReason(err.message))
    this.#graceTimer = setTimeout(() => this.#ws.terminate(), this.#state.config.closeGrace).unref()
    return this.closed
  }

  #onClose (): void {
    this.#closed = true
    clearTimeout(this.#idleTimer)
    clearTimeout(this.#graceTimer)
    this.#sender.close()
    // Runs of a connection that is gone end now; their terminal frames have
    // no one to go to. (A resumable-run store would keep them instead.)
    this.cancelQueued('disconnect')
    for (const run of this.#runs.values()) {
      run.cancel('disconnect')
      run.takeEnding()
    }
    this.#runs.clear()
    this.#state.connections.delete(this)
    this.#state.counters.connections--
  }
}

function refOf (value: Record<string, unknown>): ConnectionErrorFrame['ref'] | undefined {
  const ref: NonNullable<ConnectionErrorFrame['ref']> = {}
  if (typeof value.type === 'string') ref.type = value.type.slice(0, 64)
  if (typeof value.runId === 'string') ref.runId = value.runId.slice(0, 128)
  if (typeof value.requestId === 'string') ref.requestId = value.requestId.slice(0, 256)
  return Object.keys(ref).length > 0 ? ref : undefined
}

/** Close reasons may hold at most 123 bytes. */
function truncateReason (reason: string): string {
  let out = reason
  while (Buffer.byteLength(out) > 123) out = out.slice(0, -1)
  return out
}
