import type { AutoGenEvent, TaskResult } from '../schemas/events.js'
import type {
  AttachedFrame, CancelledFrame, ClientFrame, EventFrame, InputRequestFrame, InterruptedFrame, ResultFrame, RunFrame, StartFrame,
  Task, TerminalFrame, TokenFrame, Usage
} from '../schemas/frames.js'
import { Emitter } from './emitter.js'
import { AutogenStreamError, errorOfFrame } from './errors.js'
import { Transcript, type TranscriptEntry } from './transcript.js'

/*
 * One run as the client sees it. The client (client.ts) feeds it the
 * frames of its runId and tells it when a new socket opens; the run keeps
 * what a resume needs (lastSeq, resumeToken) and what an app shows
 * (state, messages, pending input requests).
 *
 *   socket opens ─► never started? ─► send start
 *                   otherwise      ─► send attach {after: lastSeq}
 *                                      └ attached ─► frames > lastSeq, exactly once
 *   cancel/stop/respond before the run is on this socket wait in #outbox.
 */

export type RunState = 'starting' | 'queued' | 'running' | 'ended'

export interface RunEvents {
  /** Every run frame, in seq order. */
  frame: [RunFrame]
  token: [TokenFrame]
  event: [EventFrame]
  input_request: [InputRequestFrame]
  result: [ResultFrame]
  cancelled: [CancelledFrame]
  /** A thread's run waited for input longer than the server holds a run for it: it ended, and waits for `client.answer()`. */
  interrupted: [InterruptedFrame]
  /** The run ended with an error: its `error` frame, a refused start, or the client gave up. */
  error: [AutogenStreamError]
  state: [RunState]
  /** An entry of `messages` was added or changed. */
  message: [TranscriptEntry]
  /** The server refused a cancel, stop, input or detach of this run; the run goes on. */
  rejected: [AutogenStreamError]
  /** Frames `from`..`to` were no longer kept on the server when the client came back (also an entry of `messages`). */
  gap: [{ from: number, to: number }]
}

/** What a run needs from its client. */
export interface RunHost {
  send: (frame: ClientFrame) => boolean
  /** The run has started (its resume token is known) or ended: the client saves or forgets it. */
  changed: (run: ClientRun) => void
}

export const kFrame = Symbol('autogenStream.client.frame')
export const kRefused = Symbol('autogenStream.client.refused')
export const kAttached = Symbol('autogenStream.client.attached')
export const kSocket = Symbol('autogenStream.client.socket')
export const kFail = Symbol('autogenStream.client.fail')

interface Sink { push: (frame: RunFrame) => void, end: (err?: AutogenStreamError) => void }

export class ClientRun extends Emitter<RunEvents> {
  readonly runId: string
  /** The task as started (kept in storage when it is a string), for display. */
  task: StartFrame['task'] | undefined
  /** The secret of `started` that lets this client attach again from another connection. */
  resumeToken: string | undefined
  state: RunState = 'starting'
  /** Position in the server's queue while `queued`. */
  queuePosition: number | undefined
  /** The highest seq received: a reconnect attaches after it. */
  lastSeq = -1
  /** The input requests the run waits for, by requestId. */
  readonly pendingInputs = new Map<string, InputRequestFrame>()
  /** The terminal frame, once the run ended on the server. */
  outcome: TerminalFrame | undefined
  /** Why the run ended, when it did not end with a result. */
  error: AutogenStreamError | undefined

  /** Tokens the run's models reported (prompt and completion), once it ended: from its terminal frame. */
  get usage (): Usage | undefined { return this.outcome?.usage }

  /**
   * The run ended waiting for the human (an `interrupted` frame): the
   * question it waits at. Answer with client.answer(threadId, requestId,
   * text): a new run of the thread goes on from there. Undefined for a run
   * that finished (or is still going).
   */
  get interrupted (): InterruptedFrame | undefined {
    return this.outcome?.type === 'interrupted' ? this.outcome : undefined
  }

  readonly #host: RunHost
  readonly #transcript = new Transcript()
  readonly #options: StartFrame['options']
  /** A run that answers an interrupted one: sent instead of a task. */
  readonly #answer: StartFrame['answer']
  /** Frames waiting until the run is known on the current socket. */
  #outbox: ClientFrame[] = []
  /** Whether this socket has the run (start sent, or attached). */
  #linked = false
  /** The run's start has yet to reach a server (it never got `started`). */
  #needsStart: boolean
  #started = false
  #detached = false
  readonly #sinks = new Set<Sink>()
  #result: Promise<TaskResult> | undefined
  #settle: { resolve: (r: TaskResult) => void, reject: (e: AutogenStreamError) => void } | undefined

  /** The thread this run continues, if it was started on one. */
  readonly threadId: string | undefined

  constructor (host: RunHost, runId: string, init: { task?: StartFrame['task'], answer?: StartFrame['answer'], options?: StartFrame['options'], threadId?: string, resumeToken?: string | undefined, after?: number }) {
    super()
    this.#host = host
    this.runId = runId
    this.task = init.task
    this.#answer = init.answer
    this.#options = init.options
    this.threadId = init.threadId
    this.resumeToken = init.resumeToken
    this.#needsStart = (init.task !== undefined || init.answer !== undefined) && init.after === undefined
    if (init.after !== undefined) this.lastSeq = init.after
    this.#started = init.after !== undefined
  }

  /** The conversation so far (see transcript.ts). */
  get messages (): readonly TranscriptEntry[] {
    return this.#transcript.entries
  }

  /** AutoGen's messages and events received so far, in order: at the end, the TaskResult's `messages`. */
  get events (): AutoGenEvent[] {
    return this.#transcript.events()
  }

  get ended (): boolean {
    return this.state === 'ended'
  }

  /** Whether another client (a reloaded page) could still read it: it has not ended on the server, nor been detached. Runs this client gave up on (closed, connection lost) stay resumable. */
  get resumable (): boolean {
    if (!this.ended) return true
    return this.outcome === undefined && (this.error?.code === 'AGS_CONNECTION_LOST' || this.error?.code === 'AGS_CLIENT_CLOSED')
  }

  /** Resolves with the TaskResult; rejects with an AutogenStreamError when the run is cancelled, fails, or the client gives up. */
  get result (): Promise<TaskResult> {
    if (this.#result === undefined) {
      this.#result = new Promise((resolve, reject) => { this.#settle = { resolve, reject } })
      if (this.ended) this.#settleResult()
    }
    return this.#result
  }

  /** Cancels the run at once (AutoGen is stopped upstream); it ends with `cancelled`. */
  cancel (): void {
    if (!this.ended) this.#send({ type: 'cancel', runId: this.runId })
  }

  /** Asks a team to finish its current turn and end with a result. */
  stop (): void {
    if (!this.ended) this.#send({ type: 'stop', runId: this.runId })
  }

  /** Answers an input request (the first answer from any watcher wins). */
  respond (requestId: string, content: string): void {
    if (this.ended) return
    this.pendingInputs.delete(requestId)
    this.#send({ type: 'input', runId: this.runId, requestId, content })
  }

  /** Stops reading the run without cancelling it; `result` rejects with AGS_DETACHED. */
  detach (): void {
    if (this.ended) return
    this.#detached = true
    if (this.#linked) this.#host.send({ type: 'detach', runId: this.runId })
    this.#end(new AutogenStreamError('AGS_DETACHED', `Detached from run "${this.runId}"; it goes on on the server`, { runId: this.runId }))
  }

  /** Frames received from now on, up to and including the terminal one; throws when the client gives up on the run. */
  [Symbol.asyncIterator] (): AsyncIterableIterator<RunFrame> {
    const queue: RunFrame[] = []
    // Changed by the sink, from outside next(): one object so that next() reads it afresh.
    const state: { done: boolean, failure: AutogenStreamError | undefined, wake: (() => void) | undefined } = { done: this.ended, failure: undefined, wake: undefined }
    const sink: Sink = {
      push: (frame) => { queue.push(frame); state.wake?.() },
      end: (err) => { state.done = true; state.failure = err; state.wake?.() }
    }
    if (!state.done) this.#sinks.add(sink)
    const iterator: AsyncIterableIterator<RunFrame> = {
      next: async () => {
        while (queue.length === 0 && !state.done) await new Promise<void>((resolve) => { state.wake = resolve })
        state.wake = undefined
        const frame = queue.shift()
        if (frame !== undefined) return { value: frame, done: false }
        if (state.failure !== undefined) {
          const err = state.failure
          state.failure = undefined
          throw err
        }
        return { value: undefined, done: true }
      },
      return: async () => {
        this.#sinks.delete(sink)
        state.done = true
        queue.length = 0
        return { value: undefined, done: true }
      },
      [Symbol.asyncIterator]: () => iterator
    }
    return iterator
  }

  // Called by the client.

  /** A new socket is open: send what puts the run on it. */
  [kSocket] (): void {
    this.#linked = false
    if (this.ended) return
    if (this.#needsStart) {
      this.#needsStart = false
      const frame: StartFrame = this.#answer === undefined
        ? { type: 'start', runId: this.runId, task: this.task as Task }
        : { type: 'start', runId: this.runId, threadId: this.threadId as string, answer: this.#answer }
      if (this.#options !== undefined) frame.options = this.#options
      if (this.threadId !== undefined) frame.threadId = this.threadId
      if (this.#host.send(frame)) this.#link()
      else this.#needsStart = true
      return
    }
    const attach = { type: 'attach' as const, runId: this.runId, after: this.lastSeq }
    this.#host.send(this.resumeToken === undefined ? attach : { ...attach, resumeToken: this.resumeToken })
  }

  [kAttached] (frame: AttachedFrame): void {
    if (frame.after === -1 && this.lastSeq !== -1) return // not ours: we attach after what we have
    this.#started = true
    this.#link()
  }

  /** The server refused a frame of ours that named this run. */
  [kRefused] (err: AutogenStreamError, type: string | undefined): void {
    if (this.ended) return
    if (type === 'attach') {
      if (err.code === 'AGS_ALREADY_ATTACHED') return this.#link()
      if (err.code === 'AGS_RESUME_GAP' && err.frame !== undefined && 'oldestSeq' in err.frame && typeof err.frame.oldestSeq === 'number') {
        const from = this.lastSeq + 1
        const to = err.frame.oldestSeq - 1
        this.lastSeq = to
        this.emit('message', this.#transcript.gap(from, to))
        this.emit('gap', { from, to })
        this.#host.send({ type: 'attach', runId: this.runId, after: to, ...(this.resumeToken === undefined ? {} : { resumeToken: this.resumeToken }) })
        return
      }
      if (err.code === 'AGS_UNKNOWN_RUN' && !this.#started && (this.task !== undefined || this.#answer !== undefined)) {
        // The start never reached the server (the connection dropped first): send it now.
        this.#needsStart = true
        this[kSocket]()
        return
      }
      return this.#end(err)
    }
    if (type === 'start') return this.#end(err)
    if (type === 'input' && err.code === 'AGS_UNKNOWN_REQUEST' && err.ref?.requestId !== undefined) this.pendingInputs.delete(err.ref.requestId)
    this.emit('rejected', err)
  }

  /** A frame of this run. */
  [kFrame] (frame: RunFrame): void {
    if (this.ended) return
    if (frame.type === 'input_request' && frame.resent === true) {
      // A request still pending when we attached: shown once.
      if (this.pendingInputs.has(frame.requestId)) return
      this.pendingInputs.set(frame.requestId, frame)
      this.emit('input_request', frame)
      return
    }
    if (frame.seq <= this.lastSeq) return // already had it
    this.lastSeq = frame.seq
    this.#started = true
    // The run first (state, transcript, pending inputs, outcome): listeners of
    // 'frame' and the rest see it as the frame left it. Then the events.
    let entry: TranscriptEntry | undefined
    let asks = false
    switch (frame.type) {
      case 'started':
        if (typeof frame.resumeToken === 'string') this.resumeToken = frame.resumeToken
        this.#host.changed(this)
        break
      case 'queued':
        this.queuePosition = frame.position
        break
      case 'token':
        entry = this.#transcript.token(frame)
        break
      case 'event':
        entry = this.#transcript.event(frame)
        break
      case 'input_request':
        // Answered already (a replay after a reload, or another watcher was first): nothing to ask.
        asks = frame.answered !== true
        if (asks) this.pendingInputs.set(frame.requestId, frame)
        break
      default:
        this.outcome = frame
    }
    this.#setState(frame.type === 'queued' ? 'queued' : 'running')
    for (const sink of this.#sinks) sink.push(frame)
    this.emit('frame', frame)
    switch (frame.type) {
      case 'token':
        this.emit('token', frame)
        break
      case 'event':
        this.emit('event', frame)
        break
      case 'input_request':
        if (asks) this.emit('input_request', frame)
        break
      case 'result':
        this.emit('result', frame)
        this.#end()
        break
      case 'cancelled':
        this.emit('cancelled', frame)
        this.#end(new AutogenStreamError('AGS_RUN_CANCELLED', `The run was cancelled (${frame.reason})`, { runId: this.runId, reason: frame.reason, frame }))
        break
      case 'interrupted':
        this.emit('interrupted', frame)
        this.#end(new AutogenStreamError('AGS_RUN_INTERRUPTED', `The run waits for input "${frame.requestId}" on thread "${frame.threadId}": answer it with client.answer()`, { runId: this.runId, frame }))
        break
      case 'error':
        this.#end(errorOfFrame(frame))
        break
    }
    if (entry !== undefined) this.emit('message', entry)
  }

  /** The client gave up (closed, or could not reconnect). */
  [kFail] (err: AutogenStreamError): void {
    if (!this.ended) this.#end(err)
  }

  #send (frame: ClientFrame): void {
    if (this.#linked && this.#host.send(frame)) return
    this.#outbox.push(frame)
  }

  #link (): void {
    this.#linked = true
    const outbox = this.#outbox
    this.#outbox = []
    for (const frame of outbox) this.#send(frame)
  }

  #setState (state: RunState): void {
    if (this.state === state) return
    this.state = state
    this.emit('state', state)
  }

  #end (err?: AutogenStreamError): void {
    this.error = err
    this.pendingInputs.clear()
    this.#outbox = []
    this.#setState('ended')
    // A cancel or run error is announced as 'error' only when it is one (not our own detach, not 'cancelled', not 'interrupted').
    if (err !== undefined && err.code !== 'AGS_RUN_CANCELLED' && err.code !== 'AGS_RUN_INTERRUPTED' && !this.#detached) this.emit('error', err)
    for (const sink of this.#sinks) sink.end(this.outcome === undefined ? err : undefined)
    this.#sinks.clear()
    if (this.#settle !== undefined) this.#settleResult()
    this.#host.changed(this)
  }

  #settleResult (): void {
    const settle = this.#settle
    if (settle === undefined) return
    this.#settle = undefined
    const outcome = this.outcome
    if (outcome?.type === 'result') settle.resolve(outcome.result)
    else settle.reject(this.error ?? new AutogenStreamError('AGS_CONNECTION_LOST', 'The run ended without an outcome', { runId: this.runId }))
  }
}
