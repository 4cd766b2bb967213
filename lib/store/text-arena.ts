/*
 * Token texts of one run's log as UTF-8 bytes, outside V8's heap.
 *
 * A run that outpaces its socket keeps up to maxRunLag unread tokens and a
 * tail of retainEvents read ones. Kept as strings, every one of them lives
 * long enough at full speed to be moved to V8's old generation, and the
 * old generation's size between mark-compacts is most of what a streaming
 * server's RSS shows (benchmarks/profile-notes.md, item 12). Written here,
 * the runner's string dies young, and a text is made again only when a
 * reader sends it (a merged frame's text is one slice of the bytes).
 *
 *   chunk serial:   7                  8                  9
 *                 ┌──────────────────┬──────────────────┬─────────┬─────┐
 *                 │ trimmed │ tail … │ … tail │ unread … │ unread  │free │
 *                 └──────────────────┴──────────────────┴─────────┴─────┘
 *                  ▲ released once no kept token is in it  ▲ #fill
 *
 * Texts are written one after another; one never straddles two chunks
 * (a text longer than a chunk gets a chunk of its own). A chunk no kept
 * token is in is let go, and one is kept aside to be written again: every
 * read copies out, so no string or socket write ever points into a chunk.
 */

/** Bytes per chunk: a few hundred typical tokens. */
const CHUNK_BYTES = 4096

export class TextArena {
  /** Chunks in the order written; chunks[0] has serial #first. */
  #chunks: Buffer[] = []
  #first = 0
  /** Bytes written in the last chunk. */
  #fill = CHUNK_BYTES
  #spare: Buffer | undefined
  /** Where the last write went. */
  serial = 0
  offset = 0

  /** Writes a text of `bytes` UTF-8 bytes; where it went is in serial and offset. */
  write (text: string, bytes: number): void {
    let chunk = this.#chunks[this.#chunks.length - 1]
    if (chunk === undefined || this.#fill + bytes > chunk.length) {
      chunk = bytes > CHUNK_BYTES ? Buffer.allocUnsafeSlow(bytes) : this.#take()
      this.#chunks.push(chunk)
      this.#fill = 0
    }
    this.serial = this.#first + this.#chunks.length - 1
    this.offset = this.#fill
    this.#fill += chunk.write(text, this.#fill, bytes, 'utf8')
  }

  /** The text of bytes [start, end) of a chunk. */
  read (serial: number, start: number, end: number): string {
    return (this.#chunks[serial - this.#first] as Buffer).toString('utf8', start, end)
  }

  /** No kept token is in chunks before `serial` any more. */
  release (serial: number): void {
    while (this.#first < serial && this.#chunks.length > 1) {
      const chunk = this.#chunks.shift() as Buffer
      this.#first++
      if (chunk.length === CHUNK_BYTES) this.#spare ??= chunk
    }
  }

  /** Lets go of every chunk. */
  clear (): void {
    this.#first += this.#chunks.length
    this.#chunks = []
    this.#fill = CHUNK_BYTES
    this.#spare = undefined
  }

  #take (): Buffer {
    const spare = this.#spare
    this.#spare = undefined
    return spare ?? Buffer.allocUnsafeSlow(CHUNK_BYTES)
  }
}
