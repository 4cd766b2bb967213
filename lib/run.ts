import { EventEmitter } from 'node:events'
import type { FastifyBaseLogger } from 'fastify'
import {
  InputInterruptedError, InterruptFailedError, InvalidEventError, RunCancelledError, RunError, RunnerFailedError, RunnerNoResultError,
  RunTimeoutError, ThreadStateFailedError, ThreadStateTooLargeError
} from './errors.js'
import { InputRequests } from './inputs.js'
import type { InputRequestOptions, RunContext, RunnerObject, RunRequest } from './runner.js'
import type { AutoGenEvent, TaskResult } from './schemas/events.js'
import type { CancelReason, RunFrame, StateError, TerminalFrame, Usage } from './schemas/frames.js'

/*
 * A run is a pull queue over the runner's async iterator (the semantics of
 * an object-mode Readable, without its cost per item):
 *
 *   runner.next() --pull--> [ item | item | ... ≤ highWaterMark ] --nextFrame()--> run log --> readers
 *
 * The runner is pulled only while fewer than highWaterMark items wait, and
 * the run's host (runs.ts) calls nextFrame() only while the log's slowest
 * reader is less than maxRunLag behind. So clients that stop reading stop
 * the log, the queue fills, and next() is no longer called: the runner
 * (and AutoGen behind it) is not pulled.
 *
 * 'readable' tells the host that items wait. It is emitted from
 * process.nextTick, once per time the host found the queue empty: a runner
 * that resolves next() in microtasks fills the queue up to highWaterMark
 * before the host runs, so items move to the log in batches. (A stream.
 * Readable did the same with two ticks and a list node per item: a profile
 * of 100 saturated streams put ~20% of the server's time there.)
 *
 * Items carry no seq: seq is stamped when a frame is made, so items that
 * never become frames (buffered events dropped on cancel) leave no gap.
 */

/*
 * A chunk waits in the queue as its text alone (a string item): the
 * runner's event object is let go at once, not kept while the queue is
 * full (long enough, at full speed, for V8 to move it to the old
 * generation). A `message` item before it says whose chunks follow, once
 * per change of source or message id.
 */
type Item =
  | string
  | { kind: 'message', source: string, messageId: string | null }
  | { kind: 'queued', position: number }
  | { kind: 'event', event: AutoGenEvent }
  | { kind: 'input_request', requestId: string, prompt: string }
  | { kind: 'result', result: TaskResult }
  | { kind: 'error', code: string, message: string }
  | { kind: 'interrupted' }

type Ending = { kind: 'cancelled', reason: CancelReason } | { kind: 'error', code: string, message: string }

/** A run's error ending, code and message taken together from one error. */
function errorEnding (err: { code: string, message: string }): { kind: 'error', code: string, message: string } {
  return { kind: 'error', code: err.code, message: err.message }
}

export interface RunOptions {
  request: RunRequest
  runner: RunnerObject
  context: Pick<RunContext, 'request' | 'log' | 'identity'>
  highWaterMark: number
  runTimeout: number
  inputTimeout: number
  /**
   * Server-wide admission (maxActiveRuns): 0 when the run may start now, or
   * its position in the queue; it is then started by admitted().
   */
  admit?: (run: Run) => number
  /** A thread's run (request.thread): the largest state saveState() may keep (maxThreadStateBytes). */
  maxStateBytes?: number
  /**
   * A thread's run on a runner with `interrupts: true`: ms an input request
   * waits before the run is interrupted there (holdInputFor). Undefined or
   * Infinity: never.
   */
  holdInputFor?: number
  /** A thread's run: ms its terminal frame waits for the runner to settle once it is over (threadStateTimeout). Default 10000. */
  threadStateTimeout?: number
}

/** An input request the run was interrupted at (holdInputFor). */
interface Interrupt { requestId: string, prompt: string, source?: string }

const CHUNK = 'ModelClientStreamingChunkEvent'

export class Run extends EventEmitter {
  readonly id: string
  readonly key: string

  #seq = 0
  /** Tokens the run's models reported (models_usage of its events), for its terminal frame; undefined while none reported any (unknown is not 0). */
  #usage: Usage | undefined
  #iterator: AsyncIterator<AutoGenEvent> | Iterator<AutoGenEvent> | undefined
  #pulling = false
  /** The runner is done with (ended, threw, or was closed): next() is never called again. */
  #sourceDone = false
  /** A terminal frame went out: the run is over for the client. */
  #finished = false
  /** Cancel or timeout: overrides whatever is still buffered. */
  #ending: Ending | undefined
  #startedSent = false
  readonly #abort = new AbortController()
  readonly #stop = new AbortController()
  readonly #inputs: InputRequests
  readonly #log: FastifyBaseLogger
  readonly #opts: RunOptions
  #timer: NodeJS.Timeout | undefined
  #context: RunContext | undefined
  #released = false
  /** Items waiting for nextFrame(), from #head on (the front is dropped lazily). */
  #queue: Array<Item | undefined> = []
  #head = 0
  /** The message of the chunks queued last (#onStep) and of those read last (nextFrame). */
  #queuedMessage: { source: string, messageId: string | null } | undefined
  #readMessage: { source: string, messageId: string | null } = { source: '', messageId: null }
  readonly #highWaterMark: number
  /** No item follows the last one queued (the run's last item is in). */
  #queueEnded = false
  /** The host found the queue empty: the next item queued emits 'readable'. */
  #needReadable = true
  #destroyed = false
  /** A thread's run: its terminal frame waits until the runner is released (its state is in by then). */
  readonly #thread: boolean
  /** What saveState() kept, as JSON. */
  #state: string | undefined
  #stateError: StateError | undefined
  /** A thread run's TaskResult, held until the runner is released. */
  #heldResult: TaskResult | undefined
  /** The input request the run was interrupted at: its terminal frame is `interrupted` once the runner is done. */
  #interrupt: Interrupt | undefined
  /** A thread's run waits for its runner to settle at most threadStateTimeout (a runner may ignore its abort signal). */
  #settleTimer: NodeJS.Timeout | undefined
  #settleExpired = false

  constructor (opts: RunOptions) {
    super()
    this.#highWaterMark = opts.highWaterMark
    this.id = opts.request.runId
    // Made by the server and unique on it: two clients may pick the same runId.
    this.key = opts.request.key
    this.#opts = opts
    this.#log = opts.context.log
    this.#thread = opts.request.thread !== undefined
    const holdFor = opts.holdInputFor
    this.#inputs = new InputRequests(opts.inputTimeout, this.#thread && holdFor !== undefined && Number.isFinite(holdFor) ? holdFor : undefined)
    const context: RunContext = {
      signal: this.#abort.signal,
      stopSignal: this.#stop.signal,
      requestInput: (prompt, options) => this.#requestInput(prompt, options),
      request: opts.context.request,
      identity: opts.context.identity,
      log: this.#log,
      saveState: (state) => this.#saveState(state),
      reportStateError: (code, message) => this.#reportStateError(code, message)
    }
    this.#context = context
    const position = opts.admit?.(this) ?? 0
    if (position === 0) this.#begin()
    // Beyond highWaterMark on purpose: one item, before anything else.
    else this.#push({ kind: 'queued', position } satisfies Item)
  }

  /** A queued run's turn has come (a slot of maxActiveRuns freed). */
  admitted (): void {
    if (this.#iterator !== undefined || this.#sourceDone) return
    this.#begin()
    this.#pull()
  }

  #begin (): void {
    // runTimeout counts from here: time spent queued for a slot is not the run's.
    const runTimeout = this.#opts.runTimeout
    if (runTimeout > 0) {
      this.#timer = setTimeout(() => {
        this.#end(errorEnding(new RunTimeoutError(runTimeout)))
      }, runTimeout).unref()
    }
    try {
      const iterable = this.#opts.runner.run(this.#opts.request, this.#context as RunContext)
      const asyncIt = (iterable as AsyncIterable<AutoGenEvent>)?.[Symbol.asyncIterator]
      const syncIt = (iterable as Iterable<AutoGenEvent>)?.[Symbol.iterator]
      if (typeof asyncIt === 'function') this.#iterator = asyncIt.call(iterable)
      else if (typeof syncIt === 'function') this.#iterator = syncIt.call(iterable)
      else throw new TypeError('runner.run() did not return an AsyncIterable')
    } catch (err) {
      this.#fail(err)
      return
    }
    this.#pull()
  }

  /** Queued for a server slot (maxActiveRuns): its runner has not been called yet. */
  get waiting (): boolean { return this.#iterator === undefined && !this.#sourceDone && this.#ending === undefined }

  /** False once cancelled or timed out, even before the terminal frame is out. */
  get active (): boolean { return !this.#finished && this.#ending === undefined }

  #push (item: Item): void {
    if (this.#destroyed || this.#queueEnded) return
    this.#queue.push(item)
    if (this.#needReadable) {
      this.#needReadable = false
      process.nextTick(this.#emitReadable)
    }
  }

  #emitReadable = (): void => {
    if (!this.#destroyed) this.emit('readable')
  }

  /** The next item, or null when none waits; pulls the runner again while under highWaterMark. */
  #read (): Item | null {
    if (this.#head === this.#queue.length) {
      this.#needReadable = true
      this.#pull()
      return null
    }
    const item = this.#queue[this.#head] as Item
    this.#queue[this.#head++] = undefined
    if (this.#head === this.#queue.length) {
      this.#queue.length = 0
      this.#head = 0
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head)
      this.#head = 0
    }
    this.#pull()
    return item
  }

  #pull (): void {
    if (this.#pulling || this.#sourceDone || this.#destroyed || this.#iterator === undefined) return
    if (this.#queue.length - this.#head >= this.#highWaterMark) return
    this.#pulling = true
    let step
    try {
      step = this.#iterator.next()
    } catch (err) {
      this.#pulling = false
      this.#fail(err)
      return
    }
    // Handlers made once per run, not two closures per item.
    Promise.resolve(step).then(this.#onStepResolved, this.#onStepRejected)
  }

  readonly #onStepResolved = (res: IteratorResult<AutoGenEvent>): void => { this.#onStep(res) }
  readonly #onStepRejected = (err: unknown): void => {
    this.#pulling = false
    this.#fail(err)
  }

  #onStep (res: IteratorResult<AutoGenEvent>): void {
    this.#pulling = false
    if (this.#sourceDone) {
      // The step a cancel did not wait for: an iterator without return() is done with now.
      if (this.#iterator?.return === undefined) this.#release()
      return
    }
    if (res.done === true) {
      this.#sourceDone = true
      this.#release()
      // An interrupted run's runner ends without a TaskResult: that is its outcome.
      this.#finish(this.#interrupt !== undefined ? this.#interrupted() : errorEnding(new RunnerNoResultError()))
      return
    }
    const event = res.value
    if (typeof event !== 'object' || event === null || typeof (event as { type?: unknown }).type !== 'string') {
      this.#closeSource()
      this.#finish(errorEnding(new InvalidEventError()))
      return
    }
    if (event.type === 'TaskResult') {
      if (this.#thread && !this.#released) {
        // The runner saves the thread's state after its TaskResult (the
        // Python worker: before its `end`); the result goes out once it is released.
        this.#heldResult = event as TaskResult
        this.#closeSource()
        this.#armSettle()
        return
      }
      this.#closeSource()
      this.#finish({ kind: 'result', result: event as TaskResult })
      return
    }
    if (event.type === CHUNK && isPlainChunk(event)) {
      const messageId = event.full_message_id ?? null
      const last = this.#queuedMessage
      if (last === undefined || last.source !== event.source || last.messageId !== messageId) {
        const message = { kind: 'message', source: event.source, messageId } as const
        this.#queuedMessage = message
        this.#push(message)
      }
      this.#push(event.content)
    } else {
      this.#push({ kind: 'event', event } satisfies Item)
    }
    this.#pull()
  }

  /** Queues the run's last item after everything already buffered. */
  #finish (item: Item): void {
    this.#rejectInputs()
    this.#push(item)
    this.#queueEnded = true
  }

  #fail (err: unknown): void {
    this.#sourceDone = true
    this.#release()
    if (this.#ending !== undefined || this.#finished) return
    if (this.#interrupt !== undefined && (err as { code?: unknown })?.code === 'AGS_INPUT_INTERRUPTED') {
      // The runner let requestInput()'s rejection end it: as good as returning.
      this.#finish(this.#interrupted())
    } else if (err instanceof RunError) {
      this.#finish(errorEnding(err))
    } else {
      this.#log.error({ err, runId: this.id }, 'autogen-stream runner failed')
      this.#finish(errorEnding(new RunnerFailedError()))
    }
  }

  /** Stops pulling and closes the runner's iterator, so the work behind it stops. */
  #closeSource (): void {
    if (this.#sourceDone) return
    this.#sourceDone = true
    const iterator = this.#iterator
    if (iterator?.return === undefined) {
      // A pending next() still counts as work: released when it settles (#onStep, #fail).
      if (!this.#pulling) this.#release()
      return
    }
    try {
      // A pending next() makes an async generator queue this return(); the
      // abort signal is what reaches the runner at once.
      Promise.resolve(iterator.return()).then(() => this.#release(), (err: unknown) => {
        this.#log.debug({ err, runId: this.id }, 'autogen-stream runner iterator return() failed')
        this.#release()
      })
    } catch (err) {
      this.#log.debug({ err, runId: this.id }, 'autogen-stream runner iterator return() threw')
      this.#release()
    }
  }

  /**
   * The runner is done with: it returned, threw, or its return() settled
   * after a cancel. Until then it may still be working (a model call that
   * ignores the abort signal), so a server slot (maxActiveRuns) is held
   * until this 'released'.
   */
  #release (): void {
    if (this.#released) return
    this.#released = true
    this.emit('released')
    if (!this.#thread) return
    clearTimeout(this.#settleTimer)
    const held = this.#heldResult
    if (held !== undefined) {
      this.#heldResult = undefined
      this.#finish({ kind: 'result', result: held })
    }
    // A cancel's terminal frame waited for this: the host pumps again.
    if (this.#ending !== undefined) this.emit('ending')
  }

  /**
   * A thread's run is over but its runner is not done (it unwinds a cancel,
   * saves its state, or ignores its abort signal): its terminal frame waits
   * for it, threadStateTimeout at most. Then the frame goes out with what
   * the runner saved so far, or with stateError AGS_THREAD_STATE_FAILED
   * (the thread keeps its previous state); an interrupted run's is then an
   * error, AGS_INTERRUPT_FAILED. The runner's slot stays held until it is
   * done (maxActiveRuns), as for any run.
   */
  #armSettle (): void {
    if (!this.#thread || this.#released || this.#settleTimer !== undefined || this.#settleExpired) return
    const timeout = this.#opts.threadStateTimeout ?? 10_000
    this.#settleTimer = setTimeout(() => {
      this.#settleTimer = undefined
      if (this.#released || this.#finished) return
      const held = this.#heldResult
      if (this.#ending === undefined && held === undefined && !this.#pulling) {
        // Interrupted, and not pulling the runner: what holds the run is its
        // reader (the log is full), not the runner, whose end waits in it.
        this.#armSettle()
        return
      }
      this.#settleExpired = true
      this.#log.warn({ runId: this.id, timeout }, 'autogen-stream: a thread run\'s runner did not finish within threadStateTimeout; its terminal frame goes out now')
      const notSaved = (): void => {
        this.#state = undefined
        this.#stateError = { code: 'AGS_THREAD_STATE_FAILED', message: new ThreadStateFailedError(`the runner did not finish within ${timeout} ms (threadStateTimeout)`).message }
      }
      if (this.#ending === undefined && held === undefined) {
        // Interrupted, and the runner never ended: not a run to answer, nor a state to keep.
        notSaved()
        this.#end(errorEnding(new InterruptFailedError(`its runner did not end within ${timeout} ms (threadStateTimeout)`)))
        return
      }
      // What it saved, if anything, is its state (the last call wins).
      if (this.#state === undefined && this.#stateError === undefined) notSaved()
      if (held !== undefined) {
        this.#heldResult = undefined
        this.#finish({ kind: 'result', result: held })
      }
      this.emit('ending')
    }, timeout).unref()
  }

  /** The input request waited holdInputFor: the runner is told (requestInput rejects) and is to end the run there, its state saved. */
  #interruptAt (requestId: string, prompt: string, source: string | undefined): void {
    if (!this.active || this.#interrupt !== undefined || this.#sourceDone) return
    this.#interrupt = source === undefined ? { requestId, prompt } : { requestId, prompt, source }
    // One interrupt per run: another pending request ends with the run.
    this.#inputs.stopHolding()
    this.#armSettle()
    this.#inputs.fail(requestId, new InputInterruptedError(requestId, this.#opts.holdInputFor))
  }

  /** An interrupted run's last item, once its runner is done: `interrupted` if it kept a state to go on from. */
  #interrupted (): Item {
    if (this.#state !== undefined) return { kind: 'interrupted' }
    this.#stateError ??= { code: 'AGS_THREAD_STATE_FAILED', message: new ThreadStateFailedError('the runner saved no state').message }
    return errorEnding(new InterruptFailedError(this.#stateError.message))
  }

  /** The thread's state, kept as JSON if it fits maxThreadStateBytes (context.saveState). */
  #saveState (state: unknown): void {
    if (!this.#thread || this.#finished) return
    let json: string | undefined
    try {
      json = JSON.stringify(state)
    } catch (err) {
      this.#reportStateError('AGS_THREAD_STATE_FAILED', new ThreadStateFailedError(`it cannot be written as JSON (${(err as Error).message})`).message)
      return
    }
    if (json === undefined) {
      this.#reportStateError('AGS_THREAD_STATE_FAILED', new ThreadStateFailedError('the runner saved no value').message)
      return
    }
    const bytes = Buffer.byteLength(json)
    const max = this.#opts.maxStateBytes ?? Infinity
    if (bytes > max) {
      this.#reportStateError('AGS_THREAD_STATE_TOO_LARGE', new ThreadStateTooLargeError(bytes, max).message)
      return
    }
    this.#state = json
    this.#stateError = undefined
  }

  #reportStateError (code: string, message: string): void {
    if (!this.#thread || this.#finished) return
    this.#state = undefined
    this.#stateError = { code: String(code), message: String(message) }
  }

  /** A thread run's state to keep, once it has ended (undefined: none saved). */
  get savedState (): string | undefined { return this.#finished ? this.#state : undefined }

  /**
   * Ends the run now: what is still buffered is dropped, the next frame
   * nextFrame() makes is the terminal one. Returns false if the run already ended.
   */
  #end (ending: Ending): boolean {
    if (this.#finished || this.#ending !== undefined) return false
    this.#ending = ending
    clearTimeout(this.#timer)
    this.#armSettle()
    this.#abort.abort(ending.kind === 'cancelled'
      ? new RunCancelledError(ending.reason)
      : Object.assign(new Error(ending.message), { code: ending.code }))
    this.#closeSource()
    this.#rejectInputs()
    this.emit('ending')
    return true
  }

  /**
   * Asks the runner to stop gracefully. Honoured in every state until the
   * terminal frame is out: before the runner has started pulling (it sees
   * stopSignal already aborted), and after its TaskResult was read but
   * not yet written (that result is the stop's outcome). False only once
   * the run was cancelled or has ended.
   */
  requestStop (): boolean {
    if (!this.active) return false
    this.#stop.abort()
    return true
  }

  cancel (reason: CancelReason): boolean {
    return this.#end({ kind: 'cancelled', reason })
  }

  /** Delivers a client's `input`; false when no such request is pending (the first answer wins). */
  provideInput (requestId: string, content: string): boolean {
    return this.#inputs.answer(requestId, content)
  }

  /** Whether the run still waits for this input request (an attaching client is sent it again). */
  awaitsInput (requestId: string): boolean {
    return this.#inputs.has(requestId)
  }

  #requestInput (prompt: string, options: InputRequestOptions = {}): Promise<string> {
    if (this.#abort.signal.aborted) return Promise.reject(this.#abort.signal.reason)
    if (this.#sourceDone) return Promise.reject(new Error('the run has ended'))
    // Beyond highWaterMark on purpose: the runner waits on this, so at most
    // one such item per pending request can pile up.
    return this.#inputs.ask(options, (requestId) => {
      this.#push({ kind: 'input_request', requestId, prompt: String(prompt) } satisfies Item)
    }, (requestId) => this.#interruptAt(requestId, String(prompt), typeof options.source === 'string' ? options.source : undefined))
  }

  #rejectInputs (): void {
    if (this.#inputs.size === 0) return
    this.#inputs.rejectAll(this.#abort.signal.aborted ? this.#abort.signal.reason : new Error('the run has ended'))
  }

  #frame<F extends FrameBody> (body: F): F & { runId: string, seq: number } {
    // type, runId and seq first: they are what a reader of the wire looks for.
    return Object.assign({ type: body.type, runId: this.id, seq: this.#seq++ }, body) as F & { runId: string, seq: number }
  }

  /**
   * The next frame for the run's log, or null when nothing is waiting.
   * One frame per item: chunks are merged later, by each reader that is
   * behind (attachment.ts), so every chunk keeps a seq of its own.
   */
  nextFrame (): RunFrame | null {
    if (this.#finished) return null
    // `started` is always a run's first frame, even for a run cancelled at once.
    if (!this.#startedSent) {
      this.#startedSent = true
      return this.#frame({ type: 'started' })
    }
    if (this.#ending !== undefined) {
      // A thread run's state comes in while its runner unwinds: the frame waits for it (threadStateTimeout at most).
      if (this.#thread && !this.#released && !this.#settleExpired) return null
      const ending = this.#ending
      return this.#terminal(ending.kind === 'cancelled'
        ? this.#frame(this.#withUsage({ type: 'cancelled', reason: ending.reason }))
        : this.#frame(this.#withUsage({ type: 'error', code: ending.code, message: ending.message })))
    }
    let item = this.#read()
    while (item !== null && typeof item !== 'string' && item.kind === 'message') {
      this.#readMessage = item
      item = this.#read()
    }
    if (item === null) return null
    if (typeof item === 'string') {
      // The one frame per chunk, made in one literal: the same keys in
      // the same order as #frame() gives (type, runId, seq first).
      const message = this.#readMessage
      return { type: 'token', runId: this.id, seq: this.#seq++, source: message.source, full_message_id: message.messageId, text: item, chunks: 1 }
    }
    switch (item.kind) {
      case 'queued':
        return this.#frame({ type: 'queued', position: item.position })
      case 'input_request':
        return this.#frame({ type: 'input_request', requestId: item.requestId, prompt: item.prompt })
      case 'result':
        return this.#terminal(this.#frame(this.#withUsage({ type: 'result', result: item.result })))
      case 'error':
        return this.#terminal(this.#frame(this.#withUsage({ type: 'error', code: item.code, message: item.message })))
      case 'interrupted': {
        const { requestId, prompt, source } = this.#interrupt as Interrupt
        const threadId = this.#opts.request.thread?.id as string
        return this.#terminal(this.#frame(this.#withUsage(source === undefined
          ? { type: 'interrupted', threadId, requestId, prompt }
          : { type: 'interrupted', threadId, requestId, prompt, source })))
      }
      case 'event':
        if ((item.event as { models_usage?: unknown }).models_usage != null) this.#usage = addUsage(this.#usage, (item.event as { models_usage: unknown }).models_usage)
        if (item.event.type === CHUNK) {
          const chunk = item.event as ChunkLike
          // The one frame per chunk, made in one literal: the same keys in
          // the same order as #frame() gives (type, runId, seq first).
          return { type: 'token', runId: this.id, seq: this.#seq++, source: chunk.source, full_message_id: chunk.full_message_id ?? null, text: String(chunk.content), chunks: 1 }
        }
        return this.#frame({ type: 'event', event: item.event })
    }
  }

  /** A terminal frame's body with the run's usage, when a model reported any. */
  #withUsage<F extends object> (body: F): F & { usage?: Usage } {
    return this.#usage === undefined ? body : { ...body, usage: { ...this.#usage } }
  }

  #terminal (frame: TerminalFrame): TerminalFrame {
    if (this.#thread && this.#stateError !== undefined) frame.stateError = this.#stateError
    this.#finished = true
    clearTimeout(this.#timer)
    clearTimeout(this.#settleTimer)
    this.#closeSource()
    this.#rejectInputs()
    // Synchronous, unlike 'close': the connection frees the run's slot
    // before it reads the client's next frame, which may be in the same
    // chunk (a start right after a cancel).
    this.emit('finished')
    // Drops anything still queued.
    this.#destroyed = true
    this.#queue = []
    this.#head = 0
    return frame
  }
}

type FrameBody = RunFrame extends infer F ? F extends RunFrame ? Omit<F, 'runId' | 'seq'> : never : never

/**
 * Adds an event's models_usage (AutoGen's RequestUsage) to the run's totals
 * (made at the first usage reported). Each model call's usage is on one
 * message or event of the stream (the final message, a
 * ToolCallRequestEvent), never on the TaskResult's copies of them, so
 * summing the stream counts each call once. What is not a count (a
 * runner's own object, a negative or fractional number) is ignored, not
 * trusted; an object with neither count reports nothing.
 */
function addUsage (total: Usage | undefined, usage: unknown): Usage | undefined {
  if (typeof usage !== 'object' || usage === null) return total
  const { prompt_tokens: prompt, completion_tokens: completion } = usage as Record<string, unknown>
  const promptOk = Number.isSafeInteger(prompt) && (prompt as number) >= 0
  const completionOk = Number.isSafeInteger(completion) && (completion as number) >= 0
  if (!promptOk && !completionOk) return total
  const sum = total ?? { prompt_tokens: 0, completion_tokens: 0 }
  if (promptOk) sum.prompt_tokens += prompt as number
  if (completionOk) sum.completion_tokens += completion as number
  return sum
}

interface ChunkLike { type: string, source: string, content: string, full_message_id?: string | null }

/** A chunk whose token frame is its text and message alone (no usage to add): queued as its text. */
function isPlainChunk (event: AutoGenEvent): event is AutoGenEvent & ChunkLike {
  const e = event as Partial<ChunkLike> & { models_usage?: unknown }
  return typeof e.content === 'string' && typeof e.source === 'string' &&
    (e.full_message_id === undefined || e.full_message_id === null || typeof e.full_message_id === 'string') && e.models_usage == null
}
