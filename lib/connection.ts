import { randomBytes, randomUUID } from 'node:crypto'
import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import type { RawData, WebSocket } from 'ws'
import {
  AlreadyAttachedError, BadFrameError, BadJsonError, BinaryFrameError, BusyError, DuplicateRunIdError, FrameTooLargeError,
  HeartbeatTimeoutError, IdleTimeoutError, ResumeGapError, SlowConsumerError, TooManyBadFramesError, TooManyRunsError,
  RateLimitedError, StoreUnavailableError, TaskTooLargeError, ThreadBusyError, ThreadUnsupportedError, UnknownRequestError, UnknownRunError,
  UnknownThreadError, closeCodeOf, type AutogenStreamError
} from './errors.js'
import { nestsDeeperThan } from './json-depth.js'
import type { Config } from './options.js'
import { identityOf } from './auth.js'
import type { Identity } from './runner.js'
import type { Attachment } from './attachment.js'
import { TokenBucket, type AddressCounts, type RunAdmission } from './limits.js'
import type { Awaitable, RunDirectory, SharedRun } from './directory.js'
import type { LeaveReason } from './runs.js'
import { LogGapError } from './store/types.js'
import { Sender } from './sender.js'
import type { Counters, EventCounts } from './stats.js'
import {
  checkClientFrame, PROTOCOL, PROTOCOLS, type AttachFrame, type ClientFrame, type CancelFrame, type CancelReason, type DetachFrame, type StopFrame,
  type ConnectionErrorFrame, type DeleteThreadFrame, type InputFrame, type ProtocolVersion, type StartFrame, type ThreadFrame
} from './schemas/frames.js'

/** What every connection of one plugin instance shares. */
export interface PluginState {
  config: Config
  /** The one owner of runs (in this process, or in Redis): connections only attach to them. */
  runs: RunDirectory
  counters: Counters
  /** Rare events, for metrics. */
  events: EventCounts
  /** Open connections by their socket: one entry each, and how the shared listeners below find theirs. */
  connections: Map<WebSocket, Connection>
  addresses: AddressCounts
  admission: RunAdmission
}

interface Watch { hosted: SharedRun, attachment: Attachment }

const OPEN = 1
const V1 = 'autogen-stream.v1'

/** Why a directory without threads (a custom `runs` that keeps none) refuses thread frames. */
const NO_THREADS = 'this run store keeps no threads'

/** The runs a connection reads, while it reads none: shared, never written. */
const NO_RUNS: ReadonlyMap<string, Watch> = new Map()

/**
 * One WebSocket: parses and checks client frames, starts, attaches to and
 * cancels runs, keeps the heartbeat and the idle timer. Runs live in
 * `runs`; the connection holds its attachments (the runs it reads, by
 * runId), and its sender writes their frames.
 *
 * An idle connection costs little more than its socket (thousands are
 * open at once): what only a connection that runs or answers needs (its
 * identity when anonymous, its sender, its map of runs, its rate-limit
 * bucket, the `closed` promise) is made on first use, and the socket's
 * listeners are functions shared by every connection of the plugin
 * (they find theirs in `state.connections`), not closures per connection.
 */
export class Connection {
  readonly #state: PluginState
  readonly #ws: WebSocket
  readonly #request: FastifyRequest
  /** Who is on this connection: authenticate()'s identity, or an anonymous one (made on first use). */
  #identity: Identity | undefined
  /** Made when the connection first writes (a run, an answer). */
  #sender: Sender | undefined
  /** The runs this connection reads, by runId (`runs` holds them by the server's key); NO_RUNS until the first. */
  #runs: Map<string, Watch> | typeof NO_RUNS = NO_RUNS
  /** Why the socket closes, when the server closes it: what a run with onDisconnect 'cancel' is cancelled with. */
  #closeReason: LeaveReason = 'disconnect'
  /** While reading is paused (answers pile up unread): frames ws had already parsed, in order. */
  #held: Array<[RawData, boolean]> | undefined
  #badFrames = 0
  /** It asked to start a thread's run: an anonymous identity's threads are forgotten when it closes (a store call: only then). */
  #madeThreads = false
  /** frameRate: made at the first frame (none with frameRate 0). */
  #bucket: TokenBucket | undefined
  #missedPongs = 0
  /** The payload of our last ping (6 random bytes, as a number): only a pong that echoes it proves the peer reads. */
  #pingPayload: number | undefined
  #idleTimer: NodeJS.Timeout | undefined
  #graceTimer: NodeJS.Timeout | undefined
  #closed = false
  /** Settles once the socket has closed; made when someone waits for it (end()). */
  #whenClosed: { promise: Promise<void>, resolve: () => void } | undefined

  /** Serves one upgraded socket; the connection lives as long as the socket (state.connections holds it). */
  static open (state: PluginState, ws: WebSocket, request: FastifyRequest): Connection {
    return new Connection(state, ws, request)
  }

  private constructor (state: PluginState, ws: WebSocket, request: FastifyRequest) {
    this.#state = state
    this.#ws = ws
    this.#request = request
    state.connections.set(ws, this)
    state.counters.connections++
    state.events.connectionsOpened++
    // Its connection slot is now given back when the connection closes.
    state.addresses.adopt(request.raw.socket)
    const listeners = Connection.#listenersOf(state)
    // 'close' comes once; on() with a shared function costs no wrapper per socket, as once() would.
    ws.on('close', listeners.close)
    ws.on('message', listeners.message)
    if (state.config.pingInterval > 0) ws.on('pong', listeners.pong)
    this.#armIdle()
  }

  /**
   * The socket's listeners, one set per plugin instance: `this` is the
   * socket, its connection is found in state.connections (a socket whose
   * connection is gone has nothing left to handle).
   */
  static #listenersOf (state: PluginState): Listeners {
    let listeners = Connection.#listenerSets.get(state)
    if (listeners !== undefined) return listeners
    const { connections } = state
    listeners = {
      close (this: WebSocket) {
        const connection = connections.get(this)
        if (connection !== undefined) connection.#onClose()
      },
      message (this: WebSocket, data: RawData, isBinary: boolean) {
        const connection = connections.get(this)
        if (connection !== undefined) connection.#onMessage(data, isBinary)
      },
      pong (this: WebSocket, data: Buffer) {
        const connection = connections.get(this)
        if (connection !== undefined) connection.#onPong(data)
      }
    }
    Connection.#listenerSets.set(state, listeners)
    return listeners
  }

  static readonly #listenerSets = new WeakMap<PluginState, Listeners>()

  /** Resolves once the socket has closed (and the connection has let go of its runs). */
  get closed (): Promise<void> {
    if (this.#closed) return Promise.resolve()
    if (this.#whenClosed === undefined) {
      let resolve = (): void => {}
      const promise = new Promise<void>((_resolve) => { resolve = _resolve })
      this.#whenClosed = { promise, resolve }
    }
    return this.#whenClosed.promise
  }

  /** The protocol version the socket agreed on (its subprotocol; v2 when it named none). */
  get #version (): ProtocolVersion {
    const protocol = this.#ws.protocol
    return (PROTOCOLS as readonly string[]).includes(protocol) ? protocol as ProtocolVersion : PROTOCOL
  }

  get #log (): FastifyBaseLogger { return this.#request.log }

  get #who (): Identity {
    if (this.#identity === undefined) this.#identity = identityOf(this.#request)
    return this.#identity
  }

  /**
   * Whose detached and ended runs are bounded together: the identity, or
   * for anonymous connections the client address (a new anonymous identity
   * per connection must not multiply what one client may leave behind).
   * Namespaced: an app's user id can never name an address's pool.
   */
  get #poolKey (): string {
    const identity = this.#who
    return identity.anonymous === true ? `address:${this.#request.ip}` : `identity:${identity.id}`
  }

  /** The connection's sender, made when it first writes. */
  get #out (): Sender {
    if (this.#sender === undefined) {
      const { config } = this.#state
      this.#sender = new Sender(this.#ws, this.#state.counters, config, {
        onStall: (bytes) => {
          // Runs that other connections read too go on at their pace: this
          // one lets go of them (`detached`, lagging) and may attach again.
          // Only a connection that holds nobody else back is a slow consumer.
          const shared = this.#version === V1 ? [] : [...this.#runs.values()].filter(({ hosted }) => hosted.watchers > 1 && !hosted.ended)
          if (shared.length > 0) {
            this.#log.info({ bufferedBytes: bytes, runs: shared.length }, 'autogen-stream: slow watcher, detached from runs others read')
            for (const { hosted } of shared) this.#leave(hosted.runId, 'lagging')
            this.#state.events.laggingDetaches += shared.length
            return true
          }
          this.#log.warn({ bufferedBytes: bytes }, 'autogen-stream: slow consumer, closing')
          this.#state.events.slowConsumerCloses++
          this.end(new SlowConsumerError(config.stallTimeout, bytes), 'slow_consumer')
          return false
        },
        onDone: (attachment) => this.#done(attachment)
      })
    }
    return this.#sender
  }

  /** The map of runs to add one to. */
  get #ownRuns (): Map<string, Watch> {
    if (this.#runs === NO_RUNS) this.#runs = new Map()
    return this.#runs as Map<string, Watch>
  }

  #onMessage (data: RawData, isBinary: boolean): void {
    // Frames still arriving after a close started (shutdown, slow consumer) start nothing.
    if (this.#closed || this.#ws.readyState !== OPEN) return
    // Paused (see below): ws still emits the frames of the chunk it was
    // parsing; they wait here, in order (at most one read's worth).
    if (this.#held !== undefined) {
      this.#held.push([data, isBinary])
      return
    }
    const size = Array.isArray(data) ? data.reduce((n, b) => n + b.length, 0) : (data as Buffer).byteLength
    if (size > this.#state.config.maxPayload) {
      this.end(new FrameTooLargeError(size, this.#state.config.maxPayload), 'client')
      return
    }
    if (isBinary) {
      this.end(new BinaryFrameError(), 'client')
      return
    }
    const { frameRate, frameBurst } = this.#state.config
    if (frameRate !== 0 && !(this.#bucket ??= new TokenBucket(frameRate, frameBurst)).take()) {
      this.#reject(new RateLimitedError(frameRate, frameBurst))
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
    const checked = checkClientFrame(value, this.#version)
    if ('reason' in checked) {
      const ref = typeof value === 'object' && value !== null ? refOf(value as Record<string, unknown>) : undefined
      this.#reject(new BadFrameError(checked.reason), ref)
      return
    }
    const frame = checked.frame
    const pending = this.#handle(frame)
    if (pending !== undefined) {
      // The store answers later (Redis): nothing more is read until it has,
      // so this client's frames are still handled in order.
      this.#holdUntil(pending)
      return
    }
    // A client that asks for answers (list, attach, errors) faster than it
    // reads them is not read either: once maxBufferedBytes of answers wait
    // in a congested socket, its next frames wait in the kernel (TCP pushes
    // back on it) until the socket drains. Frames that need no answer
    // (cancel, stop, input) are never held back by run frames alone.
    if (this.#sender?.answersOverBudget === true) this.#pauseReading()
  }

  #pauseReading (): void {
    this.#held = []
    this.#ws.pause()
    this.#out.whenWritable(() => this.#resumeReading())
  }

  #holdUntil (pending: Promise<void>): void {
    this.#held = []
    this.#ws.pause()
    pending.then(() => this.#resumeReading(), (err: unknown) => {
      this.#log.error({ err }, 'autogen-stream: a frame handler failed')
      this.#resumeReading()
    })
  }

  /** Handles the frames that arrived while reading was paused, in order, then reads on. */
  #resumeReading (): void {
    const held = this.#held ?? []
    this.#held = undefined
    for (let i = 0; i < held.length; i++) {
      const [data, isBinary] = held[i] as [RawData, boolean]
      this.#onMessage(data, isBinary)
      if (this.#held !== undefined) {
        // Paused again: the rest waits behind what this frame's answer filled.
        (this.#held as Array<[RawData, boolean]>).unshift(...held.slice(i + 1))
        return
      }
    }
    if (!this.#closed) this.#ws.resume()
  }

  /** Handles a frame; a promise when the store answers later (the next frame waits for it). */
  #handle (frame: ClientFrame): Promise<void> | undefined {
    switch (frame.type) {
      case 'start': return this.#start(frame)
      case 'cancel': this.#cancel(frame); return
      case 'stop': this.#stop(frame); return
      case 'input': return this.#input(frame)
      case 'attach': return this.#attach(frame)
      case 'detach': this.#detach(frame); return
      case 'list': return this.#then(this.#state.runs.list(this.#who.id), (runs) => this.#out.sendNow({ type: 'runs', runs }), { type: 'list' })
      case 'thread': return this.#thread(frame)
      case 'delete_thread': return this.#deleteThread(frame)
    }
  }

  /**
   * A thread of this connection's identity. Another identity's thread is
   * answered exactly as one that does not exist (AGS_UNKNOWN_THREAD): no
   * oracle of which threadIds others use.
   */
  #thread (frame: ThreadFrame): Promise<void> | undefined {
    const ref = { type: 'thread', threadId: frame.threadId }
    const threads = this.#state.runs.threads
    if (threads === undefined) {
      this.#reject(new ThreadUnsupportedError(NO_THREADS), ref)
      return
    }
    return this.#then(threads.info(this.#who.id, frame.threadId), (info) => {
      if (info === undefined) this.#reject(new UnknownThreadError(frame.threadId), ref)
      else this.#out.sendNow(info)
    }, ref)
  }

  #deleteThread (frame: DeleteThreadFrame): Promise<void> | undefined {
    const ref = { type: 'delete_thread', threadId: frame.threadId }
    const threads = this.#state.runs.threads
    if (threads === undefined) {
      this.#reject(new ThreadUnsupportedError(NO_THREADS), ref)
      return
    }
    return this.#then(threads.delete(this.#who.id, frame.threadId), (answer) => {
      if (answer.deleted) this.#out.sendNow({ type: 'thread_deleted', threadId: frame.threadId })
      // Its run would save its state into a thread that is gone: cancel it, or wait for its end.
      else if (answer.busy !== undefined) this.#reject(new ThreadBusyError(frame.threadId, answer.busy), ref)
      else this.#reject(new UnknownThreadError(frame.threadId), ref)
    }, ref)
  }

  /**
   * `next` with the store's answer: at once when it has one, else when it
   * comes (unless the connection closed meanwhile). A store that fails
   * (Redis unreachable) is the frame's AGS_STORE_UNAVAILABLE.
   */
  #then<T> (value: Awaitable<T>, next: (value: T) => void, ref: ConnectionErrorFrame['ref']): Promise<void> | undefined {
    if (!(value instanceof Promise)) {
      next(value)
      return undefined
    }
    return value.then((answer) => {
      if (!this.#closed) next(answer)
    }, (err: unknown) => {
      // The details (addresses, Redis's own words) go to the log, not to the client.
      this.#log.warn({ err }, 'autogen-stream: the run store failed')
      if (!this.#closed) this.#answer(new StoreUnavailableError('try again later'), ref)
    })
  }

  /** A client frame that cannot be served: an error frame, or a close once there were too many. */
  #reject (err: AutogenStreamError, ref?: ConnectionErrorFrame['ref'], details?: Pick<ConnectionErrorFrame, 'oldestSeq' | 'lastSeq' | 'terminal'>): void {
    if (++this.#badFrames > this.#state.config.maxBadFrames) {
      this.end(new TooManyBadFramesError(this.#badFrames), 'client')
      return
    }
    this.#answer(err, ref, details)
  }

  /** An error frame that is not the client's fault (the server is busy): it does not count toward maxBadFrames. */
  #answer (err: AutogenStreamError, ref?: ConnectionErrorFrame['ref'], details?: Pick<ConnectionErrorFrame, 'oldestSeq' | 'lastSeq' | 'terminal'>): void {
    const frame: ConnectionErrorFrame = { type: 'error', code: err.code, message: err.message }
    if (ref !== undefined) frame.ref = ref
    if (details !== undefined) Object.assign(frame, details)
    this.#out.sendNow(frame)
  }

  #start (frame: StartFrame): Promise<void> | undefined {
    const { config, runs } = this.#state
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
    // An answer is the task of the run it starts: bounded alike.
    const taskBytes = Buffer.byteLength(JSON.stringify(frame.task ?? frame.answer?.content ?? ''))
    if (taskBytes > config.maxTaskBytes) {
      this.#reject(new TaskTooLargeError(taskBytes, config.maxTaskBytes), { type: 'start', runId })
      return
    }
    if (frame.threadId !== undefined) {
      this.#madeThreads = true
      const ref = { type: 'start', runId, threadId: frame.threadId }
      // v1 has no thread frames, so no way to list or delete a thread: threads are v2's.
      if (this.#version === V1) {
        this.#reject(new BadFrameError('start: threadId needs autogen-stream.v2'), ref)
        return
      }
      if (runs.threads === undefined) {
        this.#reject(new ThreadUnsupportedError(NO_THREADS), ref)
        return
      }
    }
    const identity = this.#who
    const started = runs.start({
      frame, runId, identity, poolKey: this.#poolKey, anonymous: identity.anonymous === true, request: this.#request, log: this.#log, version: this.#version
    })
    return this.#then(started, (hosted) => {
      if (hosted instanceof Error) {
        const ref = frame.threadId === undefined ? { type: 'start', runId } : { type: 'start', runId, threadId: frame.threadId, ...(frame.answer === undefined ? {} : { requestId: frame.answer.requestId }) }
        // The server being busy is not the client's doing: it does not count toward maxBadFrames.
        if (hosted instanceof BusyError) this.#answer(hosted, ref)
        else this.#reject(hosted, ref)
        return
      }
      this.#watch(hosted, -1, true)
    }, { type: 'start', runId })
  }

  /** Reads a run from after `after`; the log's gap error when that is older than what is kept. */
  #watch (hosted: SharedRun, after: number, starter: boolean): AutogenStreamError | undefined {
    const runId = hosted.runId
    const attachment = hosted.attach(after, {
      version: this.#version,
      starter,
      notify: this.#out.kick,
      // v1 has no `detached`: a v1 watcher that lags is a slow consumer (its connection's stall).
      onLagging: () => { if (this.#version !== V1) this.#leave(runId, 'lagging') }
    })
    if (!('runId' in attachment)) return attachment
    clearTimeout(this.#idleTimer)
    this.#ownRuns.set(runId, { hosted, attachment })
    this.#out.add(attachment)
    return undefined
  }

  #attach (frame: AttachFrame): Promise<void> | undefined {
    const ref = { type: 'attach', runId: frame.runId }
    // The same answer for a run that does not exist and one that is not
    // this identity's (nor its token's): no oracle of which runIds exist.
    return this.#then(this.#state.runs.find(this.#who.id, frame.runId, frame.resumeToken), (hosted) => this.#attachTo(hosted, frame), ref)
  }

  #attachTo (hosted: SharedRun | undefined, frame: AttachFrame): void {
    const { config } = this.#state
    const ref = { type: 'attach', runId: frame.runId }
    if (hosted === undefined) {
      this.#reject(new UnknownRunError(frame.runId), ref)
      return
    }
    if (this.#runs.has(frame.runId)) {
      this.#reject(new AlreadyAttachedError(frame.runId), ref)
      return
    }
    if (this.#runs.size >= config.maxRunsPerConnection) {
      this.#reject(new TooManyRunsError(config.maxRunsPerConnection), ref)
      return
    }
    const head = hosted.head
    if (frame.after > head) {
      this.#reject(new BadFrameError(`attach: after (${frame.after}) is beyond the run's last seq (${head})`), ref)
      return
    }
    if (hosted.ended && frame.after === head) {
      // Nothing left to send: no attachment to hold a slot of this connection.
      this.#out.sendNow({ type: 'attached', runId: frame.runId, after: frame.after, oldestSeq: hosted.oldest, lastSeq: head, ended: true })
      this.#state.events.resumeAttaches++
      return
    }
    try {
      const oldestSeq = hosted.oldest
      const refused = this.#watch(hosted, frame.after, false)
      if (refused !== undefined) {
        this.#reject(refused, ref)
        return
      }
      // Before the replay: the sender writes the run's frames from a later turn (sender.add never writes at once).
      this.#out.sendNow({ type: 'attached', runId: frame.runId, after: frame.after, oldestSeq, lastSeq: head, ended: hosted.ended })
      this.#state.events.resumeAttaches++
    } catch (err) {
      if (!(err instanceof LogGapError)) throw err
      this.#state.events.resumeGaps++
      // Counts toward maxBadFrames like any refusal: it may carry a large terminal frame.
      this.#reject(new ResumeGapError(frame.runId, frame.after, err.oldest), ref,
        err.terminal === undefined ? { oldestSeq: err.oldest, lastSeq: err.head } : { oldestSeq: err.oldest, lastSeq: err.head, terminal: err.terminal })
    }
  }

  #detach (frame: DetachFrame): void {
    if (!this.#leave(frame.runId, 'client')) {
      this.#reject(new UnknownRunError(frame.runId), { type: 'detach', runId: frame.runId })
    }
  }

  /** Stops reading a run that goes on: this connection's `detach`, or it lagged. */
  #leave (runId: string, reason: 'client' | 'lagging'): boolean {
    const watch = this.#runs.get(runId)
    if (watch === undefined) return false
    this.#ownRuns.delete(runId)
    const sender = this.#out
    sender.remove(watch.attachment)
    sender.writeFirst(watch.attachment)
    const lastSeq = watch.attachment.position
    watch.hosted.leave(watch.attachment, reason)
    sender.sendNow({ type: 'detached', runId, reason, lastSeq })
    this.#armIdle()
    return true
  }

  /** An attachment's terminal frame went out: the run is over for this connection. */
  #done (attachment: Attachment): void {
    const watch = this.#runs.get(attachment.runId)
    if (watch?.attachment !== attachment) return
    this.#ownRuns.delete(attachment.runId)
    watch.hosted.leave(attachment, 'client')
    this.#armIdle()
  }

  #cancel (frame: CancelFrame): void {
    const watch = this.#runs.get(frame.runId)
    if (watch === undefined || !watch.hosted.cancel('client')) {
      this.#reject(new UnknownRunError(frame.runId), { type: 'cancel', runId: frame.runId })
      return
    }
    // A socket that takes bytes gets the `cancelled` frame now, which frees
    // the run's slot at once; a congested one keeps the run counted.
    this.#out.flushIfFree(watch.attachment)
  }

  #stop (frame: StopFrame): void {
    const watch = this.#runs.get(frame.runId)
    // A run whose outcome is in its log but not yet written here is still read: the stop is moot, not refused.
    if (watch === undefined || (!watch.hosted.requestStop() && !watch.hosted.ended)) {
      this.#reject(new UnknownRunError(frame.runId), { type: 'stop', runId: frame.runId })
    }
  }

  #input (frame: InputFrame): Promise<void> | undefined {
    const ref = { type: 'input', runId: frame.runId, requestId: frame.requestId }
    const watch = this.#runs.get(frame.runId)
    if (watch === undefined) {
      this.#reject(new UnknownRunError(frame.runId), ref)
      return
    }
    return this.#then(watch.hosted.answer(frame.requestId, frame.content), (answered) => {
      if (!answered) this.#reject(new UnknownRequestError(`Run "${frame.runId}"`, frame.requestId), ref)
    }, ref)
  }

  /** Called by the plugin's shared heartbeat timer. */
  heartbeat (): void {
    if (this.#closed) return
    if (this.#missedPongs >= 2) {
      this.#log.info({ missedPongs: this.#missedPongs }, new HeartbeatTimeoutError(this.#missedPongs).message)
      this.#closeReason = 'heartbeat'
      this.#ws.terminate()
      return
    }
    this.#missedPongs++
    if (this.#ws.readyState === OPEN) {
      const payload = randomBytes(6)
      this.#pingPayload = payload.readUIntBE(0, 6)
      this.#ws.ping(payload)
    }
  }

  /** Unsolicited pongs (allowed by RFC 6455) prove nothing: only the echo of our last ping resets the count. */
  #onPong (data: Buffer): void {
    if (this.#pingPayload !== undefined && data.length === 6 && data.readUIntBE(0, 6) === this.#pingPayload) {
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

  /**
   * Ends the connection on the server's initiative. Runs that this close
   * cancels (this is their last watcher and they cancel on disconnect; or
   * the server shuts down and has cancelled them all) get their terminal
   * frame written even past the byte limit, then a close frame with the
   * code from the error table. Other runs go on, detached. A peer that does
   * not finish the close handshake within closeGrace is destroyed.
   */
  end (err: AutogenStreamError, reason?: Exclude<CancelReason, 'disconnect' | 'abandoned'>): Promise<void> {
    if (this.#closed || this.#ws.readyState !== OPEN) {
      if (!this.#closed) this.#ws.terminate()
      return this.closed
    }
    if (reason !== undefined && reason !== 'shutdown') {
      if (reason !== 'client') this.#closeReason = reason
      for (const { hosted } of this.#runs.values()) {
        if (hosted.cancelOnDisconnect && hosted.watchers === 1) hosted.cancel(reason)
      }
    }
    this.#sender?.flushEndings()
    this.#ws.close(closeCodeOf(err.code), truncateReason(err.message))
    this.#graceTimer = setTimeout(() => this.#ws.terminate(), this.#state.config.closeGrace).unref()
    // Nothing more will be written: the runs stop waiting for this connection
    // now, not when the peer finishes the close handshake.
    this.#leaveAll()
    return this.closed
  }

  /** Lets go of every run: each goes on without this connection, or is cancelled when it cancels on disconnect and this was its last watcher (runs.ts). */
  #leaveAll (): void {
    if (this.#runs.size === 0) return
    const watches = [...this.#runs.values()]
    this.#ownRuns.clear()
    // Queued runs first: cancelling an active one frees a slot that would start a queued one.
    watches.sort((a, b) => Number(b.hosted.waiting) - Number(a.hosted.waiting))
    for (const { hosted, attachment } of watches) {
      this.#sender?.remove(attachment)
      hosted.leave(attachment, this.#closeReason)
    }
  }

  #forgetThreads (ownerId: string): void {
    const forgotten = this.#state.runs.threads?.forgetOwner(ownerId)
    // Nobody waits for it; a store that fails leaves them to their retention.
    if (forgotten instanceof Promise) forgotten.catch((err: unknown) => this.#log.warn({ err }, 'autogen-stream: the run store could not forget a closed anonymous connection\'s threads'))
  }

  #onClose (): void {
    this.#closed = true
    clearTimeout(this.#idleTimer)
    clearTimeout(this.#graceTimer)
    this.#sender?.close()
    this.#leaveAll()
    this.#state.connections.delete(this.#ws)
    this.#state.counters.connections--
    this.#state.addresses.release(this.#request.raw.socket)
    // An anonymous identity ends with its connection: so do its threads.
    if (this.#madeThreads && this.#identity?.anonymous === true) this.#forgetThreads(this.#identity.id)
    this.#whenClosed?.resolve()
  }
}

interface Listeners {
  close: (this: WebSocket) => void
  message: (this: WebSocket, data: RawData, isBinary: boolean) => void
  pong: (this: WebSocket, data: Buffer) => void
}

function refOf (value: Record<string, unknown>): ConnectionErrorFrame['ref'] | undefined {
  const ref: NonNullable<ConnectionErrorFrame['ref']> = {}
  if (typeof value.type === 'string') ref.type = value.type.slice(0, 64)
  if (typeof value.runId === 'string') ref.runId = value.runId.slice(0, 128)
  if (typeof value.requestId === 'string') ref.requestId = value.requestId.slice(0, 256)
  if (typeof value.threadId === 'string') ref.threadId = value.threadId.slice(0, 128)
  return Object.keys(ref).length > 0 ? ref : undefined
}

/** Close reasons may hold at most 123 bytes. */
function truncateReason (reason: string): string {
  let out = reason
  while (Buffer.byteLength(out) > 123) out = out.slice(0, -1)
  return out
}
