import { RunError } from '../errors.js'
import type { RunContext, RunRequest } from '../runner.js'
import type { AutoGenEvent } from '../schemas/events.js'
import type { PythonWorker, RunListener, WorkerEvent } from './worker.js'

/*
 * One run on one worker, seen from Node as the async iterator the plugin's
 * Run pulls. Credit is granted only from next(), which the Run calls only
 * from its Readable's _read():
 *
 *   client reads ─> sender reads Run ─> _read() ─> next() ─> {op:"credit"} ─> worker pulls run_stream()
 *
 * At most `window` items are granted and not yet consumed (in flight plus
 * queued here), so a stalled client stops the worker within `window` items.
 */

type Ending = { kind: 'done' } | { kind: 'error', error: RunError }

export class RunChannel implements AsyncIterableIterator<AutoGenEvent>, RunListener {
  readonly #worker: PythonWorker
  readonly #runId: string
  readonly #context: RunContext
  readonly #window: number
  readonly #queue: AutoGenEvent[] = []
  #outstanding = 0
  #ending: Ending | undefined
  #sawResult = false
  #stopRequested = false
  #waiter: { resolve: (r: IteratorResult<AutoGenEvent>) => void, reject: (e: Error) => void } | undefined

  constructor (worker: PythonWorker, request: RunRequest, context: RunContext, window: number) {
    this.#worker = worker
    this.#runId = request.runId
    this.#context = context
    this.#window = window
    if (context.signal.aborted) {
      // Cancelled while it waited for a worker: nothing is started in Python.
      this.#ending = { kind: 'done' }
      return
    }
    worker.attach(request.runId, this)
    worker.send({ op: 'start', run: request.runId, task: request.task, options: request.options })
    context.signal.addEventListener('abort', this.#onAbort, { once: true })
    context.stopSignal.addEventListener('abort', this.#onStop, { once: true })
    if (worker.exited) this.onWorkerExit('it had exited before the run started')
  }

  [Symbol.asyncIterator] (): this { return this }

  next (): Promise<IteratorResult<AutoGenEvent>> {
    const item = this.#queue.shift()
    if (item !== undefined) {
      this.#topUp()
      return Promise.resolve({ value: item, done: false })
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
    return { value: undefined, done: true }
  }

  /**
   * Grants credit in batches: only once half the window is used up, then
   * back to the full window. One `credit` line per item would cost a pipe
   * round trip per token.
   */
  #topUp (): void {
    const used = this.#outstanding + this.#queue.length
    if (used > this.#window / 2 || this.#ending !== undefined) return
    const grant = this.#window - used
    this.#outstanding += grant
    this.#worker.send({ op: 'credit', run: this.#runId, n: grant })
  }

  #onStop = (): void => {
    if (this.#ending !== undefined || this.#sawResult) return
    this.#stopRequested = true
    this.#worker.send({ op: 'stop', run: this.#runId })
  }

  /** Closing early is a cancel; after the TaskResult the worker ends the run on its own. */
  #onAbort = (): void => {
    if (this.#ending === undefined && !this.#sawResult) this.#worker.send({ op: 'cancel', run: this.#runId })
    this.#end({ kind: 'done' })
  }

  onEvent (event: WorkerEvent): void {
    if (this.#ending !== undefined) return
    switch (event.ev) {
      case 'item': {
        this.#outstanding--
        const item = event.item as AutoGenEvent
        if (item.type === 'TaskResult') this.#sawResult = true
        const waiter = this.#waiter
        if (waiter !== undefined) {
          this.#waiter = undefined
          waiter.resolve({ value: item, done: false })
        } else {
          this.#queue.push(item)
        }
        return
      }
      case 'input_request':
        this.#context.requestInput(event.prompt, { requestId: event.request_id }).then(
          (content) => this.#worker.send({ op: 'input', run: this.#runId, request_id: event.request_id, content }),
          (err: Error) => this.#worker.send({ op: 'input_error', run: this.#runId, request_id: event.request_id, message: err.message })
        )
        return
      case 'end':
        this.#end({ kind: 'done' })
        return
      case 'cancelled':
        // Only `stop` on something without turns (a single agent) gets here: cancels from Node end the channel first.
        this.#end({
          kind: 'error',
          error: this.#stopRequested
            ? new RunError('STOPPED', 'Stopped: a single agent has no turn to finish, so the run was cancelled')
            : new RunError('PYTHON_RUN_CANCELLED', 'The Python run was cancelled')
        })
        return
      case 'error':
        this.#end({ kind: 'error', error: new RunError(event.code, event.message) })
    }
  }

  onWorkerExit (description: string): void {
    this.#end({ kind: 'error', error: new RunError('WORKER_DIED', `The Python worker running this run died: ${description}`) })
  }

  #end (ending: Ending): void {
    if (this.#ending !== undefined) return
    this.#ending = ending
    this.#worker.detach(this.#runId)
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
