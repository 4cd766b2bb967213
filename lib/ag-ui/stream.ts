import type { FastifyBaseLogger } from 'fastify'
import type { Attachment } from '../attachment.js'
import type { SharedRun } from '../directory.js'
import type { LeaveReason } from '../runs.js'
import type { Counters, EventCounts } from '../stats.js'
import type { CancelReason, RunFrame } from '../schemas/frames.js'
import { PROTOCOL } from '../schemas/frames.js'
import type { Checkpoints } from './checkpoints.js'
import { AgUiMapper, type MapperState } from './mapping.js'
import { formatEvents, formatUnnumbered, type SseResponse } from './sse.js'

/*
 * One AG-UI reader of one run: the run's log, mapped to AG-UI events,
 * written to one SSE response while it takes bytes.
 *
 *   run log ─ attachment ─▶ mapper ─▶ SSE text ─▶ reply.raw.write() ─▶ socket
 *                                                      │ false: wait for 'drain'
 *                                                      ▼ (raced with 'close')
 *   nothing is taken from the log meanwhile: the log's lag holds the run,
 *   the run's queue holds AutoGen (as the WebSocket sender does, sender.ts)
 *
 * A stream that resumes (a GET after a cut) starts from the mapper state
 * at its Last-Event-ID (checkpoints.ts), mapping silently the frames
 * between the last state known and that point when it must.
 */

/** Chunks written in one turn of the event loop before the rest waits for setImmediate (as sender.ts). */
const YIELD_EVERY = 64

/** The header that carries a run's resume token: on the POST's answer, and on a GET of a run this identity does not own. */
export const RESUME_TOKEN_HEADER = 'autogen-stream-resume-token'

/** What the AG-UI route knows of a run it started: the client's threadId (AG-UI events carry it) and the mapper's states. */
export interface AgUiRun {
  threadId: string
  runId: string
  /** It continues an interrupted run with the answer of a RunAgentInput's `resume` (mapping.ts). */
  continuation: boolean
  checkpoints: Checkpoints
}

export interface StreamOptions {
  run: SharedRun
  info: AgUiRun
  sse: SseResponse
  /** Headers set on the reply before the stream (CORS, ...): sent with ours. */
  headers: Record<string, string | number | string[]>
  /** Map from the state after this seq, silently up to `after`, then write. */
  from: number
  after: number
  /** Events made from the first frame after `after` that the client has (a cut inside one frame's events). */
  skip: number
  starter: boolean
  /** 'cancel': a cut stream cancels its run when nobody else reads it (agUi.onDisconnect). */
  cancelOnCut: boolean
  stallTimeout: number
  counters: Counters
  events: EventCounts
  log: FastifyBaseLogger
  onEnd: (stream: AgUiStream) => void
}

export class AgUiStream {
  readonly #o: StreamOptions
  readonly #mapper: AgUiMapper
  #attachment: Attachment | undefined
  #skip: number
  /** Mapping without writing, up to `after`. */
  #silentUntil: number
  /** Frames were skipped (a shutdown's ending): the states after that are not the linear mapping's, so none are recorded. */
  #skipped = false
  #scheduled = false
  #waiting = false
  #finished = false
  #ended = false
  #stallTimer: NodeJS.Timeout | undefined

  constructor (opts: StreamOptions) {
    this.#o = opts
    const state: MapperState = opts.info.checkpoints.at(opts.from)
    this.#mapper = new AgUiMapper(opts.info, state)
    this.#skip = opts.skip
    this.#silentUntil = opts.after
  }

  /** Attaches to the run (throws LogGapError when `from` is older than its log keeps) and starts writing. */
  start (): Error | undefined {
    const o = this.#o
    const attached = o.run.attach(this.#o.from, {
      version: PROTOCOL,
      starter: o.starter,
      notify: this.#kick,
      // Another reader keeps up while this one holds the run: this one lets go (the client may resume).
      onLagging: () => this.#cut('lagging')
    })
    if (!('runId' in attached)) return attached
    this.#attachment = attached
    o.sse.onClose(() => this.#onClose())
    this.#kick()
    return undefined
  }

  /** Called by the plugin's heartbeat timer. */
  heartbeat (): void {
    this.#o.sse.heartbeat()
  }

  readonly #kick = (): void => {
    if (this.#scheduled || this.#waiting || this.#ended) return
    this.#scheduled = true
    queueMicrotask(this.#pump)
  }

  readonly #pump = (): void => {
    this.#scheduled = false
    const attachment = this.#attachment
    if (attachment === undefined || this.#waiting || this.#ended) return
    const { sse } = this.#o
    let chunks = 0
    sse.cork()
    try {
      for (;;) {
        // Silently, one log entry at a time: a merged frame could run past `after`.
        const silent = attachment.position < this.#silentUntil
        const out = attachment.next(!silent)
        if (out === null) {
          this.#openIfEnded()
          break
        }
        const writable = this.#take(out.frame, silent)
        if (attachment.done) {
          this.#finish()
          return
        }
        chunks += out.frame.type === 'token' ? out.frame.chunks : 1
        if (!writable) {
          this.#wait()
          break
        }
        if (chunks >= YIELD_EVERY) {
          this.#scheduled = true
          setImmediate(this.#pump)
          break
        }
      }
    } finally {
      sse.uncork()
      if (!this.#ended) attachment.commit()
    }
  }

  /** Maps one frame and writes its events (unless silent); false when the response must drain first. */
  #take (frame: RunFrame, silent: boolean): boolean {
    const o = this.#o
    // An input request sent again to a resuming reader is no log entry of its own: shown, unnumbered, not mapped into the state.
    if (frame.type === 'input_request' && frame.resent === true) {
      const events = this.#mapper.map(frame)
      return this.#write(formatUnnumbered(events), frame)
    }
    const first = frame.type === 'token' ? frame.seq - frame.chunks + 1 : frame.seq
    let events = this.#mapper.map(frame)
    if (!this.#skipped) o.info.checkpoints.record(first, frame.seq, this.#mapper.state, o.run.oldest)
    if (silent) return true
    if (this.#skip > 0 && events.length > 0) {
      // The client has the first events of this frame (its Last-Event-ID was `first/k`).
      events = events.slice(this.#skip)
      this.#skip = 0
    }
    if (events.length === 0) return true
    return this.#write(formatEvents(events, first, frame.seq), frame)
  }

  #write (text: string, frame: RunFrame): boolean {
    const o = this.#o
    if (!o.sse.opened) o.sse.open(this.#headers(frame))
    const counters = o.counters
    counters.frames++
    counters.bytes += Buffer.byteLength(text)
    if (frame.type === 'token') counters.tokens += frame.chunks
    else if (frame.type === 'cancelled') counters.cancels++
    else if (frame.type === 'error') counters.errors++
    return o.sse.write(text)
  }

  #headers (frame: RunFrame): Record<string, string | number | string[]> {
    // The starter's `started` carries the run's resume token: the client needs it to resume under another identity (an anonymous one).
    if (frame.type === 'started' && frame.resumeToken !== undefined) return { ...this.#o.headers, [RESUME_TOKEN_HEADER]: frame.resumeToken }
    return this.#o.headers
  }

  /** A resume of an ended run with nothing left to send: an empty stream, ended. */
  #openIfEnded (): void {
    const o = this.#o
    if (o.run.ended && this.#attachment?.done !== true && this.#attachment?.position === o.run.head) this.#finish()
  }

  /** The response holds too much: nothing more is taken from the log until it drains. */
  #wait (): void {
    const o = this.#o
    this.#waiting = true
    if (o.stallTimeout > 0 && this.#stallTimer === undefined) {
      this.#stallTimer = setTimeout(() => {
        this.#stallTimer = undefined
        if (!this.#waiting || this.#ended) return
        o.log.warn('autogen-stream: AG-UI stream not read for stallTimeout, closing it')
        o.events.slowConsumerCloses++
        this.#cut('slow_consumer')
      }, o.stallTimeout).unref()
    }
    o.sse.whenWritable(() => {
      this.#waiting = false
      clearTimeout(this.#stallTimer)
      this.#stallTimer = undefined
      this.#kick()
    })
  }

  /** The run's terminal events are out: the response ends, the run is over for this reader. */
  #finish (): void {
    if (this.#ended) return
    this.#finished = true
    const attachment = this.#attachment as Attachment
    attachment.commit()
    // Nothing was written (resumed at the end, silently up to it): still an SSE answer, empty.
    if (!this.#o.sse.opened) this.#o.sse.open(this.#o.headers)
    this.#o.sse.end()
    this.#release('client')
  }

  #release (reason: LeaveReason): void {
    if (this.#ended) return
    this.#ended = true
    clearTimeout(this.#stallTimer)
    const attachment = this.#attachment
    if (attachment !== undefined) this.#o.run.leave(attachment, reason)
    this.#o.onEnd(this)
  }

  /** Ends the response before the run's end: a stalled or lagging reader (it may resume). */
  #cut (reason: Extract<LeaveReason, 'lagging' | 'slow_consumer'>): void {
    if (this.#ended) return
    this.#leaveCut(reason)
    this.#o.sse.destroy()
  }

  #onClose (): void {
    if (this.#finished || this.#ended) return
    this.#leaveCut('disconnect')
  }

  #leaveCut (reason: Extract<LeaveReason, 'lagging' | 'slow_consumer' | 'disconnect'>): void {
    const run = this.#o.run
    // agUi.onDisconnect 'cancel': the stock client cannot resume, and closing is how its abortRun() cancels.
    if (this.#o.cancelOnCut && reason !== 'lagging' && run.watchers === 1 && !run.ended) run.cancel(reason satisfies CancelReason)
    this.#release(reason)
  }

  /**
   * The server closes (its runs were cancelled). A stream that takes bytes
   * writes on to its run's terminal events; a congested one skips what it
   * has not read to them and writes them all the same (as a closing socket
   * does, sender.ts). Resolves once the response is done, or after `grace`
   * ms, when it is cut.
   */
  async shutdown (grace: number): Promise<void> {
    const attachment = this.#attachment
    const { sse } = this.#o
    if (attachment === undefined || this.#ended) return
    if (this.#waiting && attachment.skipToEnd()) {
      // What follows is not the linear mapping: no state of it is kept for resumes.
      this.#skipped = true
      for (let out = attachment.next(false); out !== null; out = attachment.next(false)) {
        this.#take(out.frame, false)
        if (attachment.done) break
      }
      this.#finish()
    }
    if (sse.closed) return
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        sse.destroy()
        resolve()
      }, grace).unref()
      sse.onClose(() => {
        clearTimeout(timer)
        resolve()
      })
    })
  }
}
