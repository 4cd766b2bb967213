import { RunError } from '../errors.js'
import type { RunContext, RunRequest, RunThread } from '../runner.js'
import type { AutoGenEvent } from '../schemas/events.js'
import { EncodeError, type PythonWorker, type RunListener, type WorkerEvent } from './worker.js'

/*
 * One run on one worker, seen from Node as the async iterator the plugin's
 * Run pulls. Credit is granted only from next(), which the Run calls only
 * while fewer than highWaterMark items wait in it:
 *
 *   client reads ─> sender reads the log ─> Run pulls ─> next() ─> {op:"credit"} ─> worker pulls run_stream()
 *
 *   worker stdout ─ {ev:"item"} ──────────────────┐
 *                 ─ {ev:"chunks", content:[a,b,c]} ┴─> onEvent ─> [ item | chunk a | chunk b | chunk c ] ─> next()
 *
 * A `chunks` line is several plain streaming chunks of one message, each
 * one item (and one credit); each becomes a chunk event of what its token
 * frame shows. next() resolves at once while items wait, so a line's
 * chunks reach the Run in one go, and the client in one write.
 *
 * At most `window` items are granted and not yet consumed (in flight plus
 * queued here), so a stalled client stops the worker within `window` items.
 *
 * On the worker the run is known by the server's key (request.key), never
 * by the client's runId: two clients that pick the same runId and land on
 * the same worker must not see each other's items.
 */

type Ending = { kind: 'done' } | { kind: 'error', error: RunError }

/**
 * An input request, kept in the worker's order among the run's items: it is
 * asked (the Run's requestInput) only when next() reaches it, after every
 * item the worker sent before it (the UserInputRequestedEvent it answers,
 * the rest of a streamed message) has been handed over, so the client
 * never gets a prompt ahead of them.
 */
class InputAsk {
  /** `source`: the worker names the asker only when the run could go on from this request after an interrupt. */
  constructor (readonly requestId: string, readonly prompt: string, readonly source: string | undefined) {}
}

type Entry = AutoGenEvent | InputAsk

const CHUNK = 'ModelClientStreamingChunkEvent'

/** The chunk event a `chunks` line stands for, one per content entry: what the run's token frame is made of. */
function chunkEvent (source: string, fullMessageId: string | null, content: string): AutoGenEvent {
  return { type: CHUNK, source, content, full_message_id: fullMessageId } as unknown as AutoGenEvent
}

export class RunChannel implements AsyncIterableIterator<AutoGenEvent>, RunListener {
  readonly #worker: PythonWorker
  /** The server's key for the run: what the worker knows it by. */
  readonly #key: string
  readonly #context: RunContext
  readonly #window: number
  /** The pool's counts: a credit stall is counted there. */
  readonly #counts: { creditStalls: number } | undefined
  /** Entries from #head on are waiting; the array is reset when emptied (no shift() per item). */
  #queue: Entry[] = []
  #head = 0
  /** Items (not input requests) in #queue: they count against the credit window. */
  #queuedItems = 0
  #outstanding = 0
  #ending: Ending | undefined
  #sawResult = false
  #stopRequested = false
  #waiter: { resolve: (r: IteratorResult<AutoGenEvent>) => void, reject: (e: Error) => void } | undefined
  /**
   * A thread's run: the worker sends its state after the TaskResult or
   * after a cancel has unwound it, before its own terminal event. So the
   * channel listens until that event (or the worker's exit), and return()
   * waits for it: the Run's terminal frame waits for return().
   */
  readonly #thread: boolean
  #workerDone = false
  #settled: { promise: Promise<void>, resolve: () => void } | undefined

  constructor (worker: PythonWorker, request: RunRequest, context: RunContext, window: number, counts?: { creditStalls: number }) {
    this.#worker = worker
    this.#counts = counts
    this.#key = request.key
    this.#context = context
    this.#window = window
    this.#thread = request.thread !== undefined
    if (context.signal.aborted) {
      // Cancelled while it waited for a worker: nothing is started in Python.
      this.#ending = { kind: 'done' }
      this.#workerDone = true
      return
    }
    // Encoded before anything is attached: a request the worker cannot be
    // given fails this run alone and leaves nothing behind.
    let line: string
    try {
      line = worker.encode({
        op: 'start',
        run: request.key,
        run_id: request.runId,
        task: request.task,
        options: request.options,
        identity: context.identity,
        ...(request.thread !== undefined ? { thread: threadOp(request.thread) } : {})
      })
    } catch (err) {
      if (!(err instanceof EncodeError)) throw err
      context.log.warn({ runKey: request.key, detail: err.message }, 'autogen-stream: run request cannot be sent to the Python worker')
      throw RunError.of('AGS_BAD_REQUEST', [err.message])
    }
    worker.attach(request.key, this)
    worker.write(line)
    context.signal.addEventListener('abort', this.#onAbort, { once: true })
    context.stopSignal.addEventListener('abort', this.#onStop, { once: true })
    // A stop sent while the run waited for a worker: the worker holds it until the factory has built the team.
    if (context.stopSignal.aborted) this.#onStop()
    if (worker.exited) this.onWorkerExit('it had exited before the run started')
  }

  [Symbol.asyncIterator] (): this { return this }

  next (): Promise<IteratorResult<AutoGenEvent>> {
    for (let queue = this.#queue; this.#head < queue.length; queue = this.#queue) {
      const entry = queue[this.#head] as Entry
      queue[this.#head++] = undefined as unknown as Entry
      if (this.#head === queue.length) {
        this.#queue = []
        this.#head = 0
      }
      if (entry instanceof InputAsk) {
        // Reached in order: everything the worker sent before it is out.
        this.#ask(entry)
        continue
      }
      this.#queuedItems--
      this.#topUp()
      return Promise.resolve({ value: entry, done: false })
    }
    const ending = this.#ending
    if (ending !== undefined) {
      return ending.kind === 'done' ? Promise.resolve({ value: undefined, done: true }) : Promise.reject(ending.error)
    }
    this.#topUp()
    return new Promise((resolve, reject) => { this.#waiter = { resolve, reject } })
  }

  async return (): Promise<IteratorResult<AutoGenEvent>> {
    this.#onAbort()
    if (this.#thread && !this.#workerDone) {
      this.#settled ??= resolvers()
      await this.#settled.promise
    }
    return { value: undefined, done: true }
  }

  /** The worker is done with the run (its terminal event, or its exit): nothing more comes for it. */
  #workerEnded (): void {
    if (this.#workerDone) return
    this.#workerDone = true
    this.#worker.detach(this.#key)
    this.#settled?.resolve()
  }

  /**
   * Grants credit in batches: only once half the window is used up, then
   * back to the full window. One `credit` line per item would cost a pipe
   * round trip per token.
   */
  #topUp (): void {
    const used = this.#outstanding + this.#queuedItems
    if (used > this.#window / 2 || this.#ending !== undefined) return
    const grant = this.#window - used
    this.#outstanding += grant
    this.#worker.send({ op: 'credit', run: this.#key, n: grant })
  }

  #onStop = (): void => {
    if (this.#ending !== undefined || this.#sawResult) return
    this.#stopRequested = true
    this.#worker.send({ op: 'stop', run: this.#key })
  }

  /** Closing early is a cancel; after the TaskResult the worker ends the run on its own. */
  #onAbort = (): void => {
    if (this.#ending === undefined && !this.#sawResult) this.#worker.send({ op: 'cancel', run: this.#key })
    this.#end({ kind: 'done' })
  }

  onEvent (event: WorkerEvent): void {
    if (event.ev === 'state') {
      this.#context.saveState(event.state)
      return
    }
    if (event.ev === 'state_error') {
      if (event.detail !== undefined) this.#context.log.warn({ runKey: this.#key, code: event.code, detail: event.detail }, 'autogen-stream: a thread\'s state was not saved')
      this.#context.reportStateError(event.code, event.message)
      return
    }
    if (event.ev === 'end' || event.ev === 'cancelled' || event.ev === 'interrupted' || event.ev === 'error') {
      // After the channel's own ending (a cancel from Node) only a thread's run still listens.
      const ended = this.#ending !== undefined
      if (this.#thread) this.#workerEnded()
      if (ended) return
    }
    if (this.#ending !== undefined) return
    switch (event.ev) {
      case 'item': {
        if (--this.#outstanding === 0) this.#stalled()
        const item = event.item as AutoGenEvent
        if (item.type === 'TaskResult') this.#sawResult = true
        this.#deliver(item)
        return
      }
      case 'chunks': {
        const { source, full_message_id: fullMessageId, content } = event
        this.#outstanding -= content.length
        if (this.#outstanding === 0) this.#stalled()
        let i = 0
        if (this.#waiter !== undefined) this.#deliver(chunkEvent(source, fullMessageId, content[i++] as string))
        const queue = this.#queue
        this.#queuedItems += content.length - i
        for (; i < content.length; i++) queue.push(chunkEvent(source, fullMessageId, content[i] as string))
        return
      }
      case 'input_request': {
        const input = new InputAsk(event.request_id, event.prompt, event.source)
        // Nothing waits in the queue while next() waits: it is reached now.
        if (this.#waiter !== undefined) this.#ask(input)
        else this.#queue.push(input)
        return
      }
      // `interrupted` comes after its state: the Run, which asked for it, makes it the `interrupted` frame.
      case 'end':
      case 'interrupted':
        this.#end({ kind: 'done' })
        return
      case 'cancelled':
        // Cancels from Node end the channel first, so only `stop` on
        // something without turns (a single agent) or a worker cancelling
        // on its own (it was told to shut down) gets here.
        this.#end({
          kind: 'error',
          error: this.#stopRequested
            ? RunError.of('AGS_STOPPED')
            : RunError.of('AGS_WORKER_CANCELLED')
        })
        return
      case 'error': {
        // The worker decided what the client may read (its own AGS_ codes, or an app's RunError).
        if (event.detail !== undefined) this.#context.log.error({ runKey: this.#key, code: event.code, detail: event.detail }, 'autogen-stream: Python run failed')
        this.#end({ kind: 'error', error: new RunError(event.code, event.message) })
        // Harmless when the worker ended the run itself; when Node ended it
        // (a line it could not read), the worker must stop it too.
        this.#worker.send({ op: 'cancel', run: this.#key })
      }
    }
  }

  /**
   * The worker has used up its credit: it waits for Node now (unless this
   * was the run's last item). Counted once per time it runs out.
   */
  #stalled (): void {
    if (this.#counts !== undefined) this.#counts.creditStalls++
  }

  /** Hands an item to the waiting next(), or queues it. */
  #deliver (item: AutoGenEvent): void {
    const waiter = this.#waiter
    if (waiter !== undefined) {
      this.#waiter = undefined
      waiter.resolve({ value: item, done: false })
    } else {
      this.#queue.push(item)
      this.#queuedItems++
    }
  }

  /**
   * Asks the client (the Run's requestInput); the answer, or why none came,
   * goes to the worker. A request held longer than holdInputFor (a thread's
   * run, one the worker named the asker of) is interrupted: the worker ends
   * the run there, keeping its state, instead of failing its input function.
   */
  #ask ({ requestId, prompt, source }: InputAsk): void {
    if (this.#ending !== undefined) return
    const options = source === undefined ? { requestId, interruptible: false } : { requestId, source }
    this.#context.requestInput(prompt, options).then(
      (content) => this.#answer(requestId, content),
      (err: Error) => {
        if ((err as { code?: unknown }).code === 'AGS_INPUT_INTERRUPTED') this.#worker.send({ op: 'interrupt', run: this.#key, request_id: requestId })
        else this.#worker.send({ op: 'input_error', run: this.#key, request_id: requestId, message: err.message })
      }
    )
  }

  /** The client's answer; one too large for a line fails the worker's input function instead of vanishing. */
  #answer (requestId: string, content: string): void {
    let line: string
    try {
      line = this.#worker.encode({ op: 'input', run: this.#key, request_id: requestId, content })
    } catch (err) {
      this.#worker.send({ op: 'input_error', run: this.#key, request_id: requestId, message: `the answer ${(err as Error).message}` })
      return
    }
    this.#worker.write(line)
  }

  onWorkerExit (description: string, error?: RunError): void {
    // The description may quote the worker's stderr or paths: the log gets it, the client a fixed message.
    this.#context.log.error({ runKey: this.#key, code: error?.code ?? 'AGS_WORKER_DIED', detail: description }, 'autogen-stream: the Python worker running this run exited')
    this.#end({ kind: 'error', error: error ?? RunError.of('AGS_WORKER_DIED') })
    this.#workerEnded()
  }

  #end (ending: Ending): void {
    if (this.#ending !== undefined) return
    this.#ending = ending
    // A thread's run listens on for its state (#workerEnded detaches it).
    if (!this.#thread || this.#workerDone) this.#worker.detach(this.#key)
    this.#context.signal.removeEventListener('abort', this.#onAbort)
    this.#context.stopSignal.removeEventListener('abort', this.#onStop)
    const waiter = this.#waiter
    this.#waiter = undefined
    if (waiter === undefined) return
    // Items already queued are still served by next() before the ending.
    if (ending.kind === 'done') waiter.resolve({ value: undefined, done: true })
    else waiter.reject(ending.error)
  }
}

/** A thread's part of the start op: its state, and the answer that continues an interrupted run. */
function threadOp (thread: RunThread): { state: unknown, answer?: { request_id: string, content: string, source: string } } {
  const answer = thread.answer
  if (answer === undefined) return { state: thread.state ?? null }
  // The source is always known here: the worker names it for every request it can be interrupted at.
  return { state: thread.state ?? null, answer: { request_id: answer.requestId, content: answer.content, source: answer.source ?? '' } }
}

function resolvers (): { promise: Promise<void>, resolve: () => void } {
  let settle!: () => void
  const promise = new Promise<void>((resolve) => { settle = resolve })
  return { promise, resolve: settle }
}
