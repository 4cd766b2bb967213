import type { LogEntry, LogReader } from './store/types.js'
import { isTerminal, type ProtocolVersion, type RunFrame, type TokenFrame } from './schemas/frames.js'

/*
 * One connection reading one run's log: the connection's sender takes
 * frames from here in turn with its other attachments.
 *
 *   run log:  … 17 18 19 20 21 22 …   (one entry per chunk, event, …)
 *                   ▲ reader.position: the last entry handed to the socket
 *
 * Consecutive chunks of one message waiting in the log when the sender
 * takes the next frame go out as one `token` frame: what piled up while the
 * socket was congested, or what the run produced faster than the event
 * loop turns (a runner that never waits, the Python bridge handing over a
 * batch of lines). A chunk alone in the log goes out alone, at once.
 * In v2 that frame carries the seq of its last chunk and `chunks`, so it
 * stands for seqs seq - chunks + 1 .. seq and a client checks
 * `frame.seq - (frame.chunks ?? 1) === lastSeq` to know it lost nothing;
 * a resume `after` any seq it saw is exact. v1 connections get the seq
 * they always had: this attachment's own count of frames.
 */

export interface Outgoing {
  frame: RunFrame
  /** The frame as JSON: the log's own when the frame is sent as logged (shared by every reader). */
  data: string | Buffer
  /** Bytes of data in UTF-8. */
  size: number
}

export interface AttachmentOptions {
  version: ProtocolVersion
  coalesceTokens: boolean
  maxTokenFrameChars: number
  /** The starter's connection only: added to the `started` frame. */
  resumeToken?: string
  /** Pending input requests logged at or before the position attached from: sent again first. */
  resend?: LogEntry[]
  /** v2: whether the run still waits for a request; one it no longer waits for goes out marked `answered`. */
  isPending?: (requestId: string) => boolean
}

const V1 = 'autogen-stream.v1'

export class Attachment {
  readonly runId: string
  readonly #reader: LogReader
  readonly #opts: AttachmentOptions
  /** v1: the seq of the next frame on this connection. */
  #frames = 0
  #resend: LogEntry[]
  /** Entries taken out of turn: a run's `started`, kept first when a closing connection skips to the end. */
  #first: LogEntry | undefined
  #done = false

  constructor (runId: string, reader: LogReader, opts: AttachmentOptions) {
    this.runId = runId
    this.#reader = reader
    this.#opts = opts
    this.#resend = opts.resend ?? []
  }

  /** The seq of the last frame handed to the socket (-1: none). */
  get position (): number { return this.#reader.position }
  /** The run's terminal frame went out on this connection: nothing follows. */
  get done (): boolean { return this.#done }

  /**
   * The next frame for the socket, or null when this connection has caught
   * up with the log. With `merge` (and coalesceTokens), chunks of one
   * message already in the log go out as one.
   */
  next (merge: boolean): Outgoing | null {
    if (this.#done) return null
    const resent = this.#resend.shift()
    if (resent !== undefined) return this.#encode({ ...resent.frame, resent: true } as RunFrame)
    const entry = this.#first ?? this.#reader.take()
    this.#first = undefined
    if (entry === undefined) return null
    const frame = entry.frame
    if (isTerminal(frame)) this.#done = true
    if (frame.type === 'token' && merge && this.#opts.coalesceTokens) {
      const merged = this.#mergeFrom(frame)
      if (merged !== frame) return this.#encode(merged)
    }
    if (frame.type === 'started' && this.#opts.resumeToken !== undefined) {
      return this.#encode({ ...frame, resumeToken: this.#opts.resumeToken })
    }
    // A replay (or a slow watcher) reaching a request that was answered meanwhile: not one to show.
    if (frame.type === 'input_request' && this.#opts.isPending?.(frame.requestId) === false) {
      return this.#encode({ ...frame, answered: true })
    }
    if (this.#opts.version === V1) {
      // v1 numbers frames per attachment; until a merge or a resend makes
      // the two counts differ, that number is the log's seq and the frame
      // is the log's, byte for byte: no copy, no second JSON.stringify.
      if (this.#frames !== frame.seq) return this.#encode(frame)
      this.#frames++
    }
    // The log's entry itself: no copy (a token's is a view made as it is taken, its JSON made as it is sent).
    return entry
  }

  /**
   * Skips what is left unread to the run's terminal frame (a connection
   * that closes writes only how each run ended); false when the run has
   * not ended.
   */
  skipToEnd (): boolean {
    // `started` is always a run's first frame on a connection, even when what follows is skipped.
    const first = this.#reader.position === -1 ? this.#reader.peek() : undefined
    if (!this.#reader.skipToEnd()) return false
    if (first !== undefined && first.frame.type === 'started' && first.seq !== this.#reader.peek()?.seq) this.#first = first
    this.#resend = []
    return true
  }

  /** Tells the log how far this connection got (the sender calls it once per batch). */
  commit (): void {
    this.#reader.commit()
  }

  /** Stops reading: the log no longer waits for this connection. */
  close (): void {
    this.#reader.close()
  }

  #mergeFrom (first: TokenFrame): TokenFrame {
    const limit = this.#opts.maxTokenFrameChars
    let text = first.text
    let chunks = first.chunks
    let lastSeq = first.seq
    const reader = this.#reader
    if (reader.takeMergeable !== undefined) {
      // A log kept as texts: the next chunks of this message, without a view of each.
      const taken = reader.takeMergeable(first, limit - text.length)
      if (taken !== undefined) {
        text += taken.text
        chunks += taken.count
      }
      lastSeq = reader.position
    } else {
      for (;;) {
        const next = reader.peek()?.frame
        if (next === undefined || next.type !== 'token' || next.full_message_id !== first.full_message_id ||
          next.source !== first.source || text.length + next.text.length > limit) break
        reader.take()
        text += next.text
        chunks += next.chunks
        lastSeq = next.seq
      }
    }
    if (lastSeq === first.seq) return first
    return { type: 'token', runId: first.runId, seq: lastSeq, source: first.source, full_message_id: first.full_message_id, text, chunks }
  }

  #encode (frame: RunFrame): Outgoing {
    // Never the log's own object: other readers share it.
    const out = this.#opts.version === V1 ? { ...frame, seq: this.#frames++ } : frame
    const data = JSON.stringify(out)
    return { frame: out, data, size: Buffer.byteLength(data) }
  }
}
