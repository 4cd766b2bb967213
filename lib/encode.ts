import type { RunFrame, TokenFrame } from './schemas/frames.js'

/** What JSON.stringify writes other than as itself: quotes, backslashes, control characters, and surrogates (a lone one is escaped). */
// eslint-disable-next-line no-control-regex
const NEEDS_ESCAPE = /["\\\u0000-\u001f\ud800-\udfff]/
const CHUNKS_BYTES = ',"chunks":'.length

/** Decimal digits of a non-negative safe integer. */
function digits (n: number): number {
  let d = 1
  while (n >= 10) { n = Math.floor(n / 10); d++ }
  return d
}

/*
 * A run's frames go on the wire as JSON.stringify(frame) writes them. Its
 * token frames (one per chunk, most of what a run sends) differ only in
 * seq and text, and now and then in source and message id, so a run's
 * encoder keeps the JSON of the parts that repeat and writes the rest
 * around JSON.stringify(text):
 *
 *   {"type":"token","runId":"r1","seq":  41  ,"source":"writer","full_message_id":"m7","text":  "…"  ,"chunks":  1  }
 *   └──────────── kept per run ────────┘ seq └──── kept while source and id repeat ────────────┘ text  └── kept ──┘ chunks
 *
 * The bytes are JSON.stringify's exactly, for frames with the key order
 * run.ts gives them (type, runId, seq, source, full_message_id, text,
 * chunks); a frame of any other shape (a source that is not a string: JSON
 * would leave it out) is handed to JSON.stringify. A profile of 100
 * saturated streams put ~8% of the server's time in stringifying tokens.
 */
export class FrameEncoder {
  #runId: string | undefined
  #head = ''
  #source: string | undefined
  #messageId: string | null | undefined
  #middle = ''

  #headBytes = 0
  #middleBytes = 0

  encode (frame: RunFrame): string {
    if (!this.#parts(frame)) return JSON.stringify(frame)
    const token = frame as TokenFrame
    return this.#head + token.seq + this.#middle + JSON.stringify(token.text) + ',"chunks":' + token.chunks + '}'
  }

  /**
   * Bytes of encode(frame) in UTF-8, without making the string when the
   * frame is a token whose text needs no escaping (what nearly every
   * chunk is): the log counts every entry's bytes at append, and a token
   * that goes out merged with its neighbours is never encoded alone.
   */
  size (frame: RunFrame): number | undefined {
    if (!this.#parts(frame)) return undefined
    const token = frame as TokenFrame
    if (NEEDS_ESCAPE.test(token.text)) return undefined
    return this.#headBytes + digits(token.seq) + this.#middleBytes + Buffer.byteLength(token.text) + 2 + CHUNKS_BYTES + digits(token.chunks) + 1
  }

  /** Caches the repeating parts; false for a frame of another shape (JSON.stringify's own). */
  #parts (frame: RunFrame): boolean {
    if (frame.type !== 'token') return false
    const { runId, source, full_message_id: messageId } = frame
    if (typeof runId !== 'string' || typeof source !== 'string' || (messageId !== null && typeof messageId !== 'string') ||
      typeof frame.text !== 'string' || !Number.isSafeInteger(frame.seq) || frame.seq < 0 || !Number.isSafeInteger(frame.chunks) || frame.chunks < 0) {
      return false
    }
    if (runId !== this.#runId) {
      this.#runId = runId
      this.#head = `{"type":"token","runId":${JSON.stringify(runId)},"seq":`
      this.#headBytes = Buffer.byteLength(this.#head)
    }
    if (source !== this.#source || messageId !== this.#messageId) {
      this.#source = source
      this.#messageId = messageId
      this.#middle = `,"source":${JSON.stringify(source)},"full_message_id":${JSON.stringify(messageId)},"text":`
      this.#middleBytes = Buffer.byteLength(this.#middle)
    }
    return true
  }
}
