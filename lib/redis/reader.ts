import type { LogEntry, LogReader } from '../store/types.js'

/*
 * One connection's reading of a run's Redis stream. The sender takes
 * entries synchronously from a small window; the window refills with one
 * XRANGE from after the last entry fetched, only while the sender has
 * taken from it: a socket that does not drain stops the reads, its
 * position stops moving in Redis, and the host stops pulling AutoGen.
 *
 *   Redis log:  … 41 42 43 44 45 46 47 48 …          (head: 48)
 *                    ▲ position (taken, sent)
 *                       [43 44 45 46]  window (fetched, not taken)
 *                                   ▲ fetched
 */

export interface ReaderSource {
  /** The newest seq known in the log. */
  readonly head: number
  /** The terminal entry, once seen. */
  readonly terminal: LogEntry | undefined
  /** Entries after seq `after`, at most `count`, in order (one XRANGE). */
  range: (after: number, count: number) => Promise<LogEntry[]>
  /** The reader got this far (its sender wrote up to `position`). */
  committed: (reader: RedisLogReader) => void
  failed: (reader: RedisLogReader, err: unknown) => void
  /** Entries after the reader's are missing (Redis lost the run's log): the run is lost. */
  lost: () => void
}

export class RedisLogReader implements LogReader {
  readonly id: string
  position: number
  readonly #source: ReaderSource
  readonly #window: number
  readonly #notify: () => void
  #buffer: LogEntry[] = []
  #fetched: number
  #fetching = false
  #closed = false

  constructor (id: string, source: ReaderSource, after: number, window: number, notify: () => void) {
    this.id = id
    this.#source = source
    this.position = after
    this.#fetched = after
    this.#window = window
    this.#notify = notify
  }

  get closed (): boolean { return this.#closed }

  peek (): LogEntry | undefined {
    return this.#buffer[0]
  }

  take (): LogEntry | undefined {
    const entry = this.#buffer.shift()
    if (entry !== undefined) this.position = entry.seq
    if (this.#buffer.length <= this.#window >> 1) this.fetch()
    return entry
  }

  commit (): void {
    this.#source.committed(this)
  }

  skipToEnd (): boolean {
    const terminal = this.#source.terminal
    if (terminal === undefined) return false
    if (this.position >= terminal.seq) return true
    this.#buffer = [terminal]
    this.#fetched = terminal.seq
    return true
  }

  /** Ends this reader with a frame of the gateway's own, right after what it fetched: the run's log is gone. */
  end (frame: (seq: number) => LogEntry): void {
    if (this.#closed) return
    this.#buffer.push(frame(this.#fetched + 1))
    this.#fetched++
    this.#notify()
  }

  close (): void {
    this.#closed = true
    this.#buffer = []
  }

  /** Refills the window when the log has more than was fetched. Called on takes and when the log grows. */
  fetch (): void {
    if (this.#fetching || this.#closed) return
    const room = this.#window - this.#buffer.length
    if (room <= 0 || this.#fetched >= this.#source.head) return
    this.#fetching = true
    this.#source.range(this.#fetched, room).then((entries) => {
      this.#fetching = false
      if (this.#closed) return
      for (const entry of entries) {
        if (entry.seq <= this.#fetched) continue
        // Never trimmed past a live reader: a hole means Redis lost the log.
        if (entry.seq !== this.#fetched + 1) {
          this.#source.lost()
          return
        }
        this.#buffer.push(entry)
        this.#fetched = entry.seq
      }
      if (entries.length === 0 && this.#fetched < this.#source.head) {
        // Nothing where the head says there is more: the log is gone (an
        // ended run past retainAfterEnd, or Redis lost it).
        const terminal = this.#source.terminal
        if (terminal === undefined) this.#source.lost()
        else if (this.#fetched < terminal.seq) {
          this.#buffer.push(terminal)
          this.#fetched = terminal.seq
        }
        this.#notify()
        return
      }
      if (entries.length > 0) this.#notify()
      this.fetch()
    }, (err: unknown) => {
      this.#fetching = false
      if (!this.#closed) this.#source.failed(this, err)
    })
  }
}
