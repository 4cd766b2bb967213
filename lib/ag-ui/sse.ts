import type { ServerResponse } from 'node:http'
import type { AgUiEvent } from './events.js'

/*
 * Server-Sent Events as AG-UI's HttpAgent reads them: one JSON event per
 * `data:` line, events apart by a blank line. Every event carries an `id:`
 * that says where it is in the run's log, so that a client cut off can ask
 * for exactly what it missed (the `Last-Event-ID` of a GET, route.ts):
 *
 *   frame seq 17, one event      → id: 17
 *   frame seq 17, three events   → id: 17/0, id: 17/1, id: 17
 *   chunks 18..20 in one frame   → id: 18/0 (its TEXT_MESSAGE_START), id: 20
 *
 * So an id `S` means "everything up to seq S", and `X/k` "the first k + 1
 * events of the frame that starts at seq X".
 */

/** The SSE text of one frame's events; `first` is the frame's first seq (a merged token frame spans several). */
export function formatEvents (events: readonly AgUiEvent[], first: number, last: number): string {
  let text = ''
  const n = events.length
  for (let i = 0; i < n; i++) {
    text += `id: ${i === n - 1 ? String(last) : `${first}/${i}`}\ndata: ${JSON.stringify(events[i])}\n\n`
  }
  return text
}

/** Events with no place in the log (an input request sent again to a resuming reader): no id, so Last-Event-ID stays where it was. */
export function formatUnnumbered (events: readonly AgUiEvent[]): string {
  let text = ''
  for (const event of events) text += `data: ${JSON.stringify(event)}\n\n`
  return text
}

/** Where a resume starts: read the log after `after`, then drop the first `skip` events made (they were received). */
export interface ResumePoint { after: number, skip: number }

const EVENT_ID = /^(-1|0|[1-9][0-9]{0,15})(?:\/(0|[1-9][0-9]{0,5}))?$/

/** Parses a Last-Event-ID (or `after`): `S`, `X/k`, or -1 (from the start); undefined when it is none of these. */
export function parseResumePoint (id: string): ResumePoint | undefined {
  const match = EVENT_ID.exec(id.trim())
  if (match === null) return undefined
  const seq = Number(match[1])
  if (!Number.isSafeInteger(seq)) return undefined
  if (match[2] === undefined) return { after: seq, skip: 0 }
  if (seq < 0) return undefined
  return { after: seq - 1, skip: Number(match[2]) + 1 }
}

/**
 * One SSE response, written only while it takes bytes: write() says whether
 * more may follow (Node's own answer: the response is under its
 * highWaterMark), and whenWritable() waits for 'drain', raced with 'close'.
 * While it waits, nothing is taken from the run's log, so the log's lag
 * holds the run, and the run's queue holds AutoGen (docs/backpressure.md).
 */
export class SseResponse {
  readonly #raw: ServerResponse
  #opened = false
  #closed = false
  /** Who waits for 'drain'. */
  #waiter: (() => void) | undefined
  /** Writes since the last heartbeat (a comment goes out only on a silent stream). */
  #wrote = false

  #onClose: Array<() => void> = []

  constructor (raw: ServerResponse) {
    this.#raw = raw
    // The client may have gone while the run was being started: its 'close' came already.
    this.#closed = raw.destroyed
    raw.once('close', () => {
      this.#closed = true
      this.#wake()
      const callbacks = this.#onClose
      this.#onClose = []
      for (const fn of callbacks) fn()
    })
  }

  /** Calls fn once the response has closed (at once if it has). */
  onClose (fn: () => void): void {
    if (this.closed) fn()
    else this.#onClose.push(fn)
  }

  /** The peer went away (or the response ended). */
  get closed (): boolean { return this.#closed || this.#raw.destroyed }
  get opened (): boolean { return this.#opened }

  /** Sends the status and headers (200, text/event-stream) with whatever headers earlier hooks set on the reply. */
  open (headers: Record<string, string | number | string[]>): void {
    if (this.#opened || this.closed) return
    this.#opened = true
    this.#raw.writeHead(200, {
      ...headers,
      'content-type': 'text/event-stream; charset=utf-8',
      // Proxies must not cache nor buffer a stream (nginx reads X-Accel-Buffering).
      'cache-control': 'no-cache, no-transform',
      'x-accel-buffering': 'no'
    })
    // The headers leave now, not with the first event: a client sees the stream has begun.
    this.#raw.flushHeaders()
  }

  /** Writes; false when the response holds more than it should and the caller must wait for whenWritable(). */
  write (text: string): boolean {
    if (this.closed) return false
    this.#wrote = true
    return this.#raw.write(text)
  }

  /** Several writes go out as one (the socket's writev at uncork). */
  cork (): void { this.#raw.cork() }
  uncork (): void { this.#raw.uncork() }

  /** True while the response is over its highWaterMark. */
  get congested (): boolean { return this.#raw.writableNeedDrain }

  /** Calls fn once the response takes bytes again, or has closed. */
  whenWritable (fn: () => void): void {
    if (this.closed || !this.#raw.writableNeedDrain) {
      fn()
      return
    }
    this.#waiter = fn
    this.#raw.once('drain', this.#wake)
  }

  readonly #wake = (): void => {
    this.#raw.removeListener('drain', this.#wake)
    const waiter = this.#waiter
    this.#waiter = undefined
    waiter?.()
  }

  /**
   * A comment line when nothing was written since the last call: proxies
   * that close silent connections keep this one, and a peer that went away
   * is found by the failing write. Never while congested: a stalled reader
   * gets nothing more.
   */
  heartbeat (): void {
    if (!this.#opened || this.closed) return
    if (!this.#wrote && !this.#raw.writableNeedDrain) this.#raw.write(':\n\n')
    this.#wrote = false
  }

  end (): void {
    if (this.closed) return
    this.#raw.end()
  }

  /** Cuts the connection (a peer that does not read what is left). */
  destroy (): void {
    this.#raw.destroy()
  }
}
