import { FrameEncoder } from '../encode.js'
import { isTerminal, type RunFrame, type TokenFrame } from '../schemas/frames.js'
import { TextArena } from './text-arena.js'
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
 * A token is kept as its text alone (in #items) and the message it belongs
 * to (#contexts: one object shared by the message's tokens), not as an
 * entry object: a run that outpaces its socket holds up to maxRunLag
 * unread tokens and a tail of retainEvents read ones, and at full speed
 * every object kept that long survives two scavenges and is moved to V8's
 * old generation, whose size between mark-compacts is what a server's RSS
 * shows (benchmarks/profile-notes.md, item 12). A reader gets a view of
 * the token when it takes it (TokenEntry, young garbage), and the sender
 * merges a message's tokens straight from their texts (takeMergeable).
 * A token's JSON is made only when a reader sends it alone; most chunks of
 * a run that outpaces its socket go out merged and are never encoded.
 *
 * Any other frame is a Slot, encoded at append. Entries every reader has
 * passed keep only their bytes: the frame object is dropped (fewer live
 * objects for the collector to trace while the tail is kept) and parsed
 * again from the bytes by a replay.
 *
 *   #items     │ "Hel" │ "lo" │ Slot(event) │ "Th" │ ...
 *   #contexts  │  m1   │  m1  │  undefined  │  m2  │ ...   (m1: { runId, source, messageId })
 *   #totals    │  58   │ 115  │    402      │ 459  │ ...   (bytes up to and including each)
 *
 * The three are rings indexed by seq & mask, from `oldest` to `head`: an
 * entry is let go by clearing its cell, and the arrays are reallocated
 * only when what is kept outgrows them (doubled), never per trim. (An
 * array with its front cut off by slice() and regrown by push() was, in
 * a profile of 200 saturated runs, most of what the log allocated.)
 */
class Slot implements LogEntry {
  readonly seq: number
  readonly data: string
  readonly size: number
  #frame: RunFrame | undefined

  constructor (frame: RunFrame, data: string, size: number) {
    this.seq = frame.seq
    this.#frame = frame
    this.data = data
    this.size = size
  }

  get frame (): RunFrame {
    return this.#frame ?? JSON.parse(this.data) as RunFrame
  }

  /** Every reader has passed it. */
  settle (): void {
    this.#frame = undefined
  }
}

/** What a message's tokens share. */
class TokenContext {
  readonly runId: string
  readonly source: string
  readonly messageId: string | null
  constructor (runId: string, source: string, messageId: string | null) {
    this.runId = runId
    this.source = source
    this.messageId = messageId
  }
}

/** A kept token, as a reader takes it. */
class TokenEntry implements LogEntry {
  readonly seq: number
  readonly size: number
  readonly #text: string
  readonly #context: TokenContext
  readonly #encoder: FrameEncoder

  constructor (seq: number, text: string, context: TokenContext, size: number, encoder: FrameEncoder) {
    this.seq = seq
    this.#text = text
    this.#context = context
    this.size = size
    this.#encoder = encoder
  }

  get frame (): TokenFrame {
    const c = this.#context
    return { type: 'token', runId: c.runId, seq: this.seq, source: c.source, full_message_id: c.messageId, text: this.#text, chunks: 1 }
  }

  get data (): string {
    return this.#encoder.encode(this.frame)
  }
}

/** A token frame the log can keep as its text: the shape run.ts makes, one chunk. */
function isPlainToken (frame: RunFrame): frame is TokenFrame {
  return frame.type === 'token' && frame.chunks === 1 && typeof frame.text === 'string' && typeof frame.source === 'string' &&
    typeof frame.runId === 'string' && (frame.full_message_id === null || typeof frame.full_message_id === 'string')
}

/** With the u flag a pair is one code point: this finds only a surrogate without its other half. */
const LONE_SURROGATE = /[\ud800-\udfff]/u

/** A new log's ring cells (doubled as needed): a run's first frames, without a reallocation. */
const INITIAL_CELLS = 32

export class MemoryRunLog implements RunLog {
  readonly #limits: LogLimits
  /** Rings of #mask + 1 cells: the entry with seq n is at n & #mask. */
  #items: Array<string | Slot | undefined> = new Array(INITIAL_CELLS).fill(undefined)
  #contexts: Array<TokenContext | undefined> = new Array(INITIAL_CELLS).fill(undefined)
  #totals = new Float64Array(INITIAL_CELLS)
  /** A token's text in #arena: chunk serial, byte offset, bytes, and its length in UTF-16 units (what maxTokenFrameChars counts). */
  #serials = new Int32Array(INITIAL_CELLS)
  #offsets = new Int32Array(INITIAL_CELLS)
  #byteLengths = new Int32Array(INITIAL_CELLS)
  #lengths = new Int32Array(INITIAL_CELLS)
  readonly #arena = new TextArena()
  /** No kept arena token before this seq (#releaseText scans from here). */
  #textFrom = 0
  #mask = INITIAL_CELLS - 1
  #oldest = 0
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
  /** The last token's context: the next token of the same message shares it. */
  #context: TokenContext | undefined

  constructor (limits: LogLimits, onBytes: (delta: number) => void = () => {}) {
    this.#limits = limits
    this.#onBytes = onBytes
  }

  get head (): number { return this.#head }
  get oldest (): number { return this.#oldest }
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

  /** Appends a frame; returns its bytes (what the producer counts against maxRunLag). */
  append (frame: RunFrame): number {
    if (this.#terminal !== undefined) throw new Error('the run\'s log has ended')
    if (frame.seq !== this.#head + 1) throw new Error(`seq ${frame.seq} does not follow ${this.#head}`)
    const total = this.#totalAt(this.#head)
    const seq = frame.seq
    if (seq - this.#oldest > this.#mask) this.#grow()
    const i = seq & this.#mask
    let size: number
    if (isPlainToken(frame)) {
      size = this.#encoder.size(frame) ?? Buffer.byteLength(this.#encoder.encode(frame))
      let context = this.#context
      if (context === undefined || context.source !== frame.source || context.messageId !== frame.full_message_id || context.runId !== frame.runId) {
        context = this.#context = new TokenContext(frame.runId, frame.source, frame.full_message_id)
      }
      const text = frame.text
      this.#contexts[i] = context
      this.#lengths[i] = text.length
      if (!LONE_SURROGATE.test(text)) {
        // Its bytes decode to the same string (a lone surrogate would not): kept in the arena.
        const bytes = Buffer.byteLength(text)
        this.#arena.write(text, bytes)
        this.#serials[i] = this.#arena.serial
        this.#offsets[i] = this.#arena.offset
        this.#byteLengths[i] = bytes
        this.#items[i] = undefined
      } else {
        this.#items[i] = text
      }
    } else {
      const data = this.#encoder.encode(frame)
      size = Buffer.byteLength(data)
      const slot = new Slot(frame, data, size)
      this.#items[i] = slot
      if (isTerminal(frame)) this.#terminal = slot
    }
    this.#totals[i] = total + size
    this.#head = seq
    this.#onBytes(size)
    // No trim here: an append adds unread entries; readers' commits trim.
    for (const reader of this.#readers) reader.notify()
    return size
  }

  /** The entry kept at seq (the caller knows it is kept). */
  entry (seq: number): LogEntry {
    const i = seq & this.#mask
    const context = this.#contexts[i]
    if (context === undefined) return this.#items[i] as Slot
    return new TokenEntry(seq, this.#textAt(i), context, this.#sizeAt(seq), this.#encoder)
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
    this.#items = []
    this.#contexts = []
    this.#totals = new Float64Array(0)
    this.#arena.clear()
    this.#mask = -1
    this.#oldest = this.#head + 1
    for (const reader of this.#readers) reader.close()
  }

  /** @internal */
  entryAfter (position: number): LogEntry | undefined {
    if (position >= this.#head) return undefined
    return this.entry(position + 1)
  }

  /**
   * @internal The texts, joined, of the tokens after `position` that are
   * of `like`'s message and fit in `room` characters together, and how
   * many they are; undefined when the next entry is not one. What a reader
   * merging a message's chunks asks: one slice of the arena for the lot.
   */
  textsAfter (position: number, like: TokenFrame, room: number): { text: string, count: number } | undefined {
    const mask = this.#mask
    let text = ''
    let count = 0
    // A run of consecutive bytes in one chunk, not yet read out.
    let serial = -1
    let start = 0
    let end = 0
    for (let seq = position + 1; seq <= this.#head; seq++) {
      const i = seq & mask
      const context = this.#contexts[i]
      if (context === undefined || (this.#lengths[i] as number) > room) break
      if (context.source !== like.source || context.messageId !== like.full_message_id || context.runId !== like.runId) break
      room -= this.#lengths[i] as number
      count++
      const item = this.#items[i]
      if (item === undefined && this.#serials[i] === serial && this.#offsets[i] === end) {
        end += this.#byteLengths[i] as number
        continue
      }
      if (serial !== -1) text += this.#arena.read(serial, start, end)
      serial = -1
      if (item === undefined) {
        serial = this.#serials[i] as number
        start = this.#offsets[i] as number
        end = start + (this.#byteLengths[i] as number)
      } else {
        text += item as string
      }
    }
    if (count === 0) return undefined
    if (serial !== -1) text += this.#arena.read(serial, start, end)
    return { text, count }
  }

  /** The text of the token at index i. */
  #textAt (i: number): string {
    const item = this.#items[i]
    if (typeof item === 'string') return item
    const start = this.#offsets[i] as number
    return this.#arena.read(this.#serials[i] as number, start, start + (this.#byteLengths[i] as number))
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

  /** Drops the frame objects of the slots every reader has passed (not the terminal's: a gap answer sends it). */
  #settle (): void {
    const floor = Math.min(this.#floor(), this.#head)
    for (let seq = Math.max(this.#settled + 1, this.#oldest); seq <= floor; seq++) {
      const i = seq & this.#mask
      if (this.#contexts[i] === undefined && this.#items[i] !== this.#terminal) (this.#items[i] as Slot).settle()
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
    if (seq < this.#oldest) return this.#trimmedTotal
    return this.#totals[seq & this.#mask] as number
  }

  /** Bytes of the entry at seq. */
  #sizeAt (seq: number): number {
    return (this.#totals[seq & this.#mask] as number) - this.#totalAt(seq - 1)
  }

  /** Lets the arena go of the chunks before the oldest kept token's. */
  #releaseText (): void {
    // From where the last call stopped: entries before it were no arena token, and are
    // trimmed or still not one; a run of events alone is not scanned again at each trim.
    for (let seq = Math.max(this.#textFrom, this.#oldest); seq <= this.#head; seq++) {
      const i = seq & this.#mask
      if (this.#contexts[i] !== undefined && this.#items[i] === undefined) {
        this.#textFrom = seq
        this.#arena.release(this.#serials[i] as number)
        return
      }
    }
    this.#textFrom = this.#head + 1
    // None kept: every chunk but the one being written.
    this.#arena.release(Number.MAX_SAFE_INTEGER)
  }

  /** Doubles the rings: what is kept (oldest..head) no longer fits. */
  #grow (): void {
    const cells = Math.max(INITIAL_CELLS, (this.#mask + 1) * 2)
    const items = new Array<string | Slot | undefined>(cells).fill(undefined)
    const contexts = new Array<TokenContext | undefined>(cells).fill(undefined)
    const totals = new Float64Array(cells)
    const serials = new Int32Array(cells)
    const offsets = new Int32Array(cells)
    const byteLengths = new Int32Array(cells)
    const lengths = new Int32Array(cells)
    const mask = cells - 1
    for (let seq = this.#oldest; seq <= this.#head; seq++) {
      const from = seq & this.#mask
      const to = seq & mask
      items[to] = this.#items[from]
      contexts[to] = this.#contexts[from]
      totals[to] = this.#totals[from] as number
      serials[to] = this.#serials[from] as number
      offsets[to] = this.#offsets[from] as number
      byteLengths[to] = this.#byteLengths[from] as number
      lengths[to] = this.#lengths[from] as number
    }
    this.#items = items
    this.#contexts = contexts
    this.#totals = totals
    this.#serials = serials
    this.#offsets = offsets
    this.#byteLengths = byteLengths
    this.#lengths = lengths
    this.#mask = mask
  }

  #trim (): void {
    const floor = this.#floor()
    const { retainEvents, retainBytes } = this.#limits
    const terminal = this.#terminal?.seq
    let dropped = 0
    // Never the unread, never the terminal frame (a late resume is told how the run ended).
    while (this.#oldest <= floor && this.#oldest !== terminal) {
      const seq = this.#oldest
      const readEvents = floor - seq + 1
      const readBytes = this.#totalAt(floor) - this.#trimmedTotal
      if (readEvents <= retainEvents && readBytes <= retainBytes) break
      const i = seq & this.#mask
      const total = this.#totals[i] as number
      dropped += total - this.#trimmedTotal
      this.#trimmedTotal = total
      this.#items[i] = undefined
      this.#contexts[i] = undefined
      this.#oldest++
    }
    if (dropped > 0) {
      this.#onBytes(-dropped)
      this.#releaseText()
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

  takeMergeable (like: TokenFrame, room: number): { text: string, count: number } | undefined {
    if (this.#closed) return undefined
    const taken = this.#log.textsAfter(this.#position, like, room)
    if (taken !== undefined) this.#position += taken.count
    return taken
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
