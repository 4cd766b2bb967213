/*
 * NDJSON framing of the worker's stdout, in linear time and bounded memory.
 *
 *   chunk ─> [ part | part | ... ]  (the line so far, never re-scanned)
 *              │ a newline in the new chunk
 *              └─> Buffer.concat(parts + head) ─> onLine(line)
 *
 * Only each new chunk is searched for newlines, so a 32 MiB line costs one
 * pass over 32 MiB, not one pass per chunk over everything buffered. A line
 * longer than `maxLineBytes` is not kept: its first bytes go to onOverflow
 * (enough to name the run it was about) and the rest is skipped up to its
 * newline.
 */

const NEWLINE = 0x0a
/** How much of an overlong line is kept to tell whom it was about. */
export const OVERFLOW_PREFIX_BYTES = 512

export interface LineHandlers {
  onLine: (line: Buffer) => void
  /** A line longer than maxLineBytes: its first bytes and its length so far (at least maxLineBytes + 1). */
  onOverflow: (prefix: Buffer, bytes: number) => void
}

export class LineSplitter {
  readonly #max: number
  readonly #handlers: LineHandlers
  #parts: Buffer[] = []
  #bytes = 0
  /** Inside an overlong line: drop bytes up to the next newline. */
  #skipping = false

  constructor (maxLineBytes: number, handlers: LineHandlers) {
    this.#max = maxLineBytes
    this.#handlers = handlers
  }

  push (chunk: Buffer): void {
    let start = 0
    while (start < chunk.length) {
      const newline = chunk.indexOf(NEWLINE, start)
      const end = newline === -1 ? chunk.length : newline
      this.#take(chunk.subarray(start, end))
      if (newline === -1) return
      this.#endLine()
      start = newline + 1
    }
  }

  #take (piece: Buffer): void {
    if (piece.length === 0 || this.#skipping) return
    if (this.#bytes + piece.length > this.#max) {
      const total = this.#bytes + piece.length
      // concat copies only the first totalLength bytes.
      const prefix = Buffer.concat([...this.#parts, piece], Math.min(total, OVERFLOW_PREFIX_BYTES))
      this.#handlers.onOverflow(prefix, total)
      this.#parts = []
      this.#bytes = 0
      this.#skipping = true
      return
    }
    this.#parts.push(piece)
    this.#bytes += piece.length
  }

  #endLine (): void {
    if (this.#skipping) {
      this.#skipping = false
      return
    }
    if (this.#bytes === 0) return
    const line = this.#parts.length === 1 ? this.#parts[0] as Buffer : Buffer.concat(this.#parts, this.#bytes)
    this.#parts = []
    this.#bytes = 0
    this.#handlers.onLine(line)
  }
}

/**
 * The run a line names, read from its first bytes without parsing it: both
 * sides write `ev`/`op` and then `run` first. For lines that cannot be
 * parsed or are too long, so that their run ends with an error instead of
 * waiting for ever.
 */
export function runOfLine (prefix: string): string | undefined {
  return /^\{"(?:ev|op)":"[a-z_]{1,32}","run":"([A-Za-z0-9._:/-]{1,300})"/.exec(prefix)?.[1]
}
