import { FrameEncoder } from '../encode.js'
import { isTerminal, type RunFrame } from '../schemas/frames.js'
import { LogGapError, type LogEntry, type LogLimits, type LogReader, type RunLog, type RunStore } from './types.js'

/*
 * A run's log in memory: an array of entries from `oldest` to `head`, each
 * with the running total of bytes up to it, so the bytes of any range are
 * one subtraction.
 *
 *   trimmed │ read by every reader (tail) │ unread by the slowest  │
 *   ────────┼─────────────────────────────┼────────────────────────┤
 *           oldest                    floor                       head
 *
 *   floor: the slowest attached reader's position; with none attached,
 *   the furthest position any reader ever reached.
 *   lag   = (head - floor) entries, bytes(floor..head]     ≤ lagEvents, lagBytes:
 *           the producer appends only while under both (hasCredit)
 *   tail  = [oldest..floor]: trimmed from the front beyond retainEvents or
 *           retainBytes; unread entries are never trimmed.
 *
 * So a log holds at most lag + tail (+ one entry over each bound, and the
 * terminal frame, which is appended whatever the lag).
 */

/*
 * Entries every reader has passed keep only their bytes: their frame object
 * is dropped (fewer live objects for the garbage collector to trace while
 * the tail is kept) and parsed again from the bytes by a replay.
 */
class Slot implements LogEntry {
  readonly seq: number
  readonly data: string
  readonly size: number
  /** Bytes of every entry up to and including this one, since the log began. */
  readonly total: number
  #frame: RunFrame | undefined

  constructor (frame: RunFrame, data: string, size: number, total: number) {
    this.seq = frame.seq
    this.#frame = frame
    this.data = data
    this.size = size
    this.total = total
  }

  get frame (): RunFrame {
    return this.#frame ?? JSON.parse(this.data) as RunFrame
  }

  /** Every reader has passed it. */
  settle (): void {
    this.#frame = undefined
  }
}

export class MemoryRunLog implements RunLog {
  readonly #limits: LogLimits
  #entries: Array<Slot | undefined> = []
  /** Index in #entries of the entry with seq `oldest` (the front is dropped lazily). */
  #start = 0
  /** Bytes of every entry trimmed so far (the total before `oldest`). */
  #trimmedTotal = 0
  #head = -1
  /** Furthest position any reader reached: the floor with nobody attached. */
  #reached = -1
  readonly #readers = new Set<MemoryLogReader>()
  #terminal: LogEntry | undefined
  /** Entries up to this seq have dropped their frame object (Slot.settle). */
  #settled = -1
  #creditListener: (() => void) | undefined
  #waitingForCredit = false
  readonly #onBytes: (delta: number) => void
  readonly #encoder = new FrameEncoder()

  constructor (limits: LogLimits, onBytes: (delta: number) => void = () => {}) {
    this.#limits = limits
    this.#onBytes = onBytes
  }

  get head (): number { return this.#head }
  get oldest (): number { return this.#head - (this.#entries.length - this.#start) + 1 }
  get terminal (): LogEntry | undefined { return this.#terminal }
  get readers (): number { return this.#readers.size }
  get bytes (): number { return this.#totalAt(this.#head) - this.#trimmedTotal }

  get lag (): { events: number, bytes: number } {
    const floor = this.#floor()
    return { events: this.#head - floor, bytes: this.#totalAt(this.#head) - this.#totalAt(floor) }
  }

  get room (): { events: number, bytes: number } {
    const lag = this.lag
    return { events: this.#limits.lagEvents - lag.events, bytes: this.#limits.lagBytes - lag.bytes }
  }

  get hasCredit (): boolean {
    if (this.#terminal !== undefined) return false
    const lag = this.lag
    const credit = lag.events < this.#limits.lagEvents && lag.bytes < this.#limits.lagBytes
    if (!credit) this.#waitingForCredit = true
    return credit
  }

  onCredit (fn: () => void): void {
    this.#creditListener = fn
  }

  append (frame: RunFrame): LogEntry {
    if (this.#terminal !== undefined) throw new Error('the run\'s log has ended')
    if (frame.seq !== this.#head + 1) throw new Error(`seq ${frame.seq} does not follow ${this.#head}`)
    const data = this.#encoder.encode(frame)
    const size = Buffer.byteLength(data)
    const slot = new Slot(frame, data, size, this.#totalAt(this.#head) + size)
    this.#entries.push(slot)
    this.#head = frame.seq
    this.#onBytes(size)
    if (isTerminal(frame)) this.#terminal = slot
    // No trim here: an append adds unread entries; readers' commits trim.
    for (const reader of this.#readers) reader.notify()
    return slot
  }

  reader (after: number, notify: () => void): LogReader {
    const oldest = this.oldest
    // -1 asks for everything kept; any other position must still be kept.
    if (after === -1) after = Math.min(oldest, this.#head + 1) - 1
    else if (after < oldest - 1) {
      throw new LogGapError(after, oldest, this.#head, this.#terminal?.frame as LogGapError['terminal'])
    }
    const reader = new MemoryLogReader(this, Math.min(after, this.#head), notify)
    this.#readers.add(reader)
    return reader
  }

  /** Drops everything: the store forgets the run. */
  clear (): void {
    this.#onBytes(-this.bytes)
    this.#trimmedTotal = this.#totalAt(this.#head)
    this.#entries = []
    this.#start = 0
    for (const reader of this.#readers) reader.close()
  }

  /** @internal */
  entryAfter (position: number): LogEntry | undefined {
    if (position >= this.#head) return undefined
    return this.#entries[this.#start + (position + 1 - this.oldest)]
  }

  /** @internal A reader moved on, or left. */
  moved (reader: MemoryLogReader): void {
    if (reader.committed > this.#reached) this.#reached = reader.committed
    this.#trim()
    this.#settle()
    if (this.#waitingForCredit && this.#terminal === undefined) {
      const lag = this.lag
      if (lag.events < this.#limits.lagEvents && lag.bytes < this.#limits.lagBytes) {
        this.#waitingForCredit = false
        this.#creditListener?.()
      }
    }
  }

  /** @internal */
  left (reader: MemoryLogReader): void {
    this.#readers.delete(reader)
    this.moved(reader)
  }

  /** Drops the frame objects of the entries every reader has passed (not the terminal's: a gap answer sends it). */
  #settle (): void {
    const floor = Math.min(this.#floor(), this.#head)
    const oldest = this.oldest
    for (let seq = Math.max(this.#settled + 1, oldest); seq <= floor; seq++) {
      const slot = this.#entries[this.#start + (seq - oldest)] as Slot
      if (slot !== this.#terminal) slot.settle()
    }
    if (floor > this.#settled) this.#settled = floor
  }

  #floor (): number {
    if (this.#readers.size === 0) return this.#reached
    let floor = Infinity
    for (const reader of this.#readers) if (reader.committed < floor) floor = reader.committed
    return floor
  }

  /** Bytes of every entry up to and including seq (entries before `oldest` are in #trimmedTotal). */
  #totalAt (seq: number): number {
    if (seq < this.oldest) return this.#trimmedTotal
    return (this.#entries[this.#start + (seq - this.oldest)] as Slot).total
  }

  #trim (): void {
    const floor = this.#floor()
    const { retainEvents, retainBytes } = this.#limits
    let dropped = 0
    while (this.#start < this.#entries.length) {
      const first = this.#entries[this.#start] as Slot
      // Never the unread, never the terminal frame (a late resume is told how the run ended).
      if (first.seq > floor || first === this.#terminal) break
      const readEvents = floor - first.seq + 1
      const readBytes = this.#totalAt(floor) - this.#trimmedTotal
      if (readEvents <= retainEvents && readBytes <= retainBytes) break
      this.#trimmedTotal = first.total
      dropped += first.size
      // Let go of the slot now: the front of the array is only cut off below, once it outweighs what is kept.
      this.#entries[this.#start] = undefined
      this.#start++
    }
    if (dropped > 0) this.#onBytes(-dropped)
    // Compact once the dropped front outweighs what is kept.
    if (this.#start > 1024 && this.#start * 2 > this.#entries.length) {
      this.#entries = this.#entries.slice(this.#start)
      this.#start = 0
    }
  }
}

class MemoryLogReader implements LogReader {
  #position: number
  /** The position the log last learnt of (commit): it counts for credit and trimming. */
  #committed: number
  readonly #log: MemoryRunLog
  readonly #notify: () => void
  #closed = false

  constructor (log: MemoryRunLog, position: number, notify: () => void) {
    this.#log = log
    this.#position = position
    this.#committed = position
    this.#notify = notify
  }

  get position (): number { return this.#position }
  /** @internal What the log counts: the position at the last commit. */
  get committed (): number { return this.#committed }

  notify (): void {
    if (!this.#closed) this.#notify()
  }

  peek (): LogEntry | undefined {
    return this.#closed ? undefined : this.#log.entryAfter(this.#position)
  }

  take (): LogEntry | undefined {
    const entry = this.peek()
    if (entry === undefined) return undefined
    this.#position = entry.seq
    return entry
  }

  commit (): void {
    if (this.#closed || this.#position === this.#committed) return
    this.#committed = this.#position
    this.#log.moved(this)
  }

  skipToEnd (): boolean {
    const terminal = this.#log.terminal
    if (this.#closed || terminal === undefined) return false
    if (this.#position < terminal.seq - 1) this.#position = terminal.seq - 1
    this.commit()
    return true
  }

  close (): void {
    if (this.#closed) return
    this.#committed = this.#position
    this.#closed = true
    this.#log.left(this)
  }
}

/** The default store: every run's log in this process's memory. */
export class MemoryRunStore implements RunStore {
  readonly #logs = new Map<string, MemoryRunLog>()
  #bytes = 0

  get bytes (): number { return this.#bytes }

  create (key: string, limits: LogLimits): RunLog {
    const log = new MemoryRunLog(limits, (delta) => { this.#bytes += delta })
    this.#logs.set(key, log)
    return log
  }

  drop (key: string): void {
    const log = this.#logs.get(key)
    if (log === undefined) return
    this.#logs.delete(key)
    log.clear()
  }
}
