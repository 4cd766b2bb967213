import type { WebSocket } from 'ws'
import type { Attachment, Outgoing } from './attachment.js'
import type { Counters } from './stats.js'
import type { ServerFrame } from './schemas/frames.js'

/*
 * One sender per connection. It takes frames from the connection's
 * attachments (the runs it reads) in turn, one frame per run per turn, and
 * writes them while the socket holds less than maxBufferedBytes unsent:
 *
 *   log of run A ─ attachment ─┐
 *   log of run B ─ attachment ─┼─ round robin ─> ws.send() ─> socket buffer ─> kernel ─> client
 *   log of run C ─ attachment ─┘                     ▲
 *              waits for 'drain' (or the last write's callback) when
 *              bufferedAmount >= maxBufferedBytes; 'close' ends every wait
 *
 * While it waits, its attachments stop reading; a log whose slowest reader
 * is maxRunLag behind stops taking frames from its run, whose Readable
 * fills to highWaterMark and stops pulling the runner.
 *
 * Fairness: a runner that never waits resolves next() in microtasks, so a
 * sender woken by microtasks could keep the event loop from ever reaching
 * I/O. After YIELD_EVERY chunks (a merged frame counts every chunk it
 * carries) in one turn of the loop the sender continues from setImmediate
 * instead, letting timers, incoming frames and other connections run.
 */

const YIELD_EVERY = 64

/**
 * Turns of the event loop, counted while senders write: the first sender
 * to ask in a turn arms one setImmediate, which counts the turn over once
 * the loop has reached I/O. A pass in a later turn than a sender's last
 * one starts its YIELD_EVERY count from 0 (a paced stream never waits in
 * setImmediate); passes chained by microtasks within one turn, however
 * long apart in time (many saturated connections take turns), keep
 * counting, so the loop still reaches I/O every YIELD_EVERY chunks.
 * (It used to be "a pass more than 1 ms after the last": with 200
 * saturated connections every pass was, no count ever reached the bound,
 * and the loop stalled for seconds.)
 */
let loopTurn = 0
let turnArmed = false
function nextTurn (): void {
  turnArmed = false
  loopTurn++
}
function currentTurn (): number {
  if (!turnArmed) {
    turnArmed = true
    setImmediate(nextTurn)
  }
  return loopTurn
}

export interface SenderHooks {
  /**
   * The socket stayed congested for stallTimeout ms. Returns true when the
   * connection goes on (it let go of what held it back): the timer starts
   * again.
   */
  onStall: (bufferedBytes: number) => boolean
  /** An attachment's terminal frame went out: it is done. */
  onDone: (attachment: Attachment) => void
}

/**
 * The stream under a ws WebSocket: a net.Socket, or a Duplex under
 * @fastify/websocket's injectWS. cork/uncork (one writev per batch) and its
 * 'drain' and writableNeedDrain (when to wait) live there, and ws offers no
 * public way to reach it; this is the one place that uses ws's private
 * `_socket` (stable across ws 8.x).
 */
function rawSocketOf (ws: WebSocket): RawSocket {
  return (ws as unknown as { _socket: RawSocket })._socket
}

interface RawSocket {
  writableNeedDrain?: boolean
  cork?: () => void
  uncork?: () => void
  once (event: string, listener: () => void): unknown
  removeListener (event: string, listener: () => void): unknown
}

export class Sender {
  readonly #ws: WebSocket
  /** The socket under ws (a net.Socket; a Duplex under injectWS). */
  readonly #raw: RawSocket
  readonly #counters: Counters
  readonly #maxBufferedBytes: number
  readonly #stallTimeout: number
  readonly #hooks: SenderHooks
  readonly #runs: Attachment[] = []
  #cursor = 0
  #scheduled = false
  /** Inside #flush: frames that arrive meanwhile are taken by the running loop, no second loop is scheduled. */
  #flushing = false
  /** Called once the socket takes bytes again (a connection that paused reading its client). */
  #writable: Array<() => void> = []
  /** Bytes of answers written since the socket last was under maxBufferedBytes. */
  #answerBytes = 0
  #waiting = false
  #closed = false
  #sinceYield = 0
  /** The turn of the event loop of the last pass: a pass in a later turn starts a new count. */
  #turn = -1
  #stallTimer: NodeJS.Timeout | undefined
  #onWrittenWaiter: (() => void) | undefined

  constructor (ws: WebSocket, counters: Counters, opts: { maxBufferedBytes: number, stallTimeout: number }, hooks: SenderHooks) {
    this.#ws = ws
    this.#raw = rawSocketOf(ws)
    this.#counters = counters
    this.#maxBufferedBytes = opts.maxBufferedBytes
    this.#stallTimeout = opts.stallTimeout
    this.#hooks = hooks
  }

  add (attachment: Attachment): void {
    this.#runs.push(attachment)
    this.kick()
  }

  /** Stops reading an attachment (detached). */
  remove (attachment: Attachment): void {
    const index = this.#runs.indexOf(attachment)
    if (index !== -1) this.#remove(index)
  }

  #remove (index: number): void {
    this.#runs.splice(index, 1)
    if (this.#cursor > index) this.#cursor--
  }

  /** New frames in a log this connection reads. */
  kick = (): void => { this.#kick() }

  /** A connection-level frame (an error about a client frame): small, written at once. */
  sendNow (frame: ServerFrame): void {
    const before = this.#ws.bufferedAmount
    this.#write(frame)
    this.#answerBytes += this.#ws.bufferedAmount - before
    // Answers count toward congestion like run frames: a socket they fill
    // makes the sender wait (and starts the stall timer).
    if (this.#congested()) this.#kick()
  }

  /**
   * True when answers (sendNow: errors, list, attach, detach) written while
   * the socket was congested reach maxBufferedBytes: the connection should
   * stop reading frames that ask for more until the socket drains.
   */
  get answersOverBudget (): boolean {
    if (!this.#congested()) this.#answerBytes = 0
    return this.#answerBytes >= this.#maxBufferedBytes
  }

  /** Calls fn once the socket is under maxBufferedBytes again (or closed). */
  whenWritable (fn: () => void): void {
    if (!this.#congested() || this.#closed) {
      fn()
      return
    }
    this.#writable.push(fn)
    this.#kick()
  }

  /**
   * Writes the terminal frames of runs that have been ended (cancelled),
   * ignoring congestion: used right before the connection is closed, so
   * the client that reads again sees how each run ended.
   */
  flushEndings (): void {
    for (let i = this.#runs.length - 1; i >= 0; i--) {
      const attachment = this.#runs[i] as Attachment
      if (attachment.skipToEnd()) this.#drain(attachment, i, Infinity)
    }
  }

  /**
   * Writes an attachment's first frame if it has sent none (a run's
   * `started`, even past the byte limit: one small frame), so that a run
   * detached at once was still announced before its `detached`.
   */
  writeFirst (attachment: Attachment): void {
    if (this.#closed || attachment.position !== -1) return
    const out = attachment.next(false)
    if (out !== null) this.#send(out)
    attachment.commit()
  }

  /** Writes what an attachment has waiting now (a just-cancelled run's last frames), unless the socket is congested. */
  flushIfFree (attachment: Attachment): void {
    if (this.#waiting || this.#closed || this.#congested()) return
    const index = this.#runs.indexOf(attachment)
    if (index !== -1) this.#drain(attachment, index, this.#maxBufferedBytes)
  }

  /** Writes the attachment's frames while fewer than `limit` bytes are buffered; removes it once done. */
  #drain (attachment: Attachment, index: number, limit: number): void {
    const raw = this.#raw
    raw.cork?.()
    try {
      while (this.#ws.bufferedAmount < limit) {
        const out = attachment.next(false)
        if (out === null) break
        this.#send(out)
      }
    } finally {
      raw.uncork?.()
    }
    attachment.commit()
    if (attachment.done) {
      this.#remove(index)
      this.#hooks.onDone(attachment)
    }
  }

  close (): void {
    this.#closed = true
    this.#wake()
    clearTimeout(this.#stallTimer)
    for (let i = this.#runs.length - 1; i >= 0; i--) this.#remove(i)
  }

  #wake (): void {
    this.#answerBytes = 0
    const waiters = this.#writable
    this.#writable = []
    for (const fn of waiters) fn()
  }

  #kick = (): void => {
    if (this.#scheduled || this.#waiting || this.#closed || this.#flushing) return
    this.#scheduled = true
    if (this.#sinceYield >= YIELD_EVERY) {
      setImmediate(this.#flushAfterYield)
    } else {
      queueMicrotask(this.#flush)
    }
  }

  #flushAfterYield = (): void => {
    this.#sinceYield = 0
    this.#flush()
  }

  #flush = (): void => {
    this.#scheduled = false
    // The count is of frames written without the event loop reaching I/O:
    // a pass in a later turn of the loop starts from 0, so a paced stream
    // is never sent through setImmediate.
    const turn = currentTurn()
    if (turn !== this.#turn) {
      this.#turn = turn
      this.#sinceYield = 0
    }
    // A pass queued (by a log's notify) during a batch that then congested:
    // the wait already pending will kick again.
    if (this.#waiting || this.#closed) return
    // One writev for every frame of this batch instead of one per frame: the
    // profile of a saturated server showed ~70% of its time in writev. ws
    // corks each frame itself; corks nest, so the socket flushes at our
    // uncork, at the end of this synchronous loop (no added latency).
    const raw = this.#raw
    this.#flushing = true
    raw.cork?.()
    try {
      this.#flushBatch()
    } finally {
      this.#flushing = false
      raw.uncork?.()
    }
    // Once per batch, not per frame: the logs learn how far this connection got (credit for their runs, trimming).
    for (const attachment of this.#runs) attachment.commit()
    if (!this.#waiting && this.#writable.length > 0 && !this.#congested()) this.#wake()
  }

  #flushBatch (): void {
    // Once the socket is closing nothing can be written: leave the runs
    // paused (not pulled) until 'close' cancels them.
    while (!this.#closed && this.#ws.readyState === 1) {
      if (this.#congested()) {
        this.#wait()
        return
      }
      if (this.#sinceYield >= YIELD_EVERY) {
        this.#scheduled = true
        setImmediate(this.#flushAfterYield)
        return
      }
      const out = this.#next()
      if (out === null) return
      this.#send(out)
      // Chunks, not frames: a merged token frame is as much work as the chunks it carries.
      this.#sinceYield += out.frame.type === 'token' ? out.frame.chunks : 1
    }
  }

  /** One frame from the next attachment in turn that has one. */
  #next (): Outgoing | null {
    const runs = this.#runs
    for (let n = runs.length; n > 0 && runs.length > 0; n--) {
      if (this.#cursor >= runs.length) this.#cursor = 0
      const index = this.#cursor
      const attachment = runs[index] as Attachment
      // Consecutive chunks of one message waiting in the log go out as one
      // frame (the attachment's coalesceTokens decides): a lone chunk goes
      // out alone, at once, and nothing ever waits for more.
      const out = attachment.next(true)
      // Removing keeps the cursor on the attachment that moved into this slot.
      if (attachment.done) {
        attachment.commit()
        this.#remove(index)
        this.#hooks.onDone(attachment)
      } else {
        this.#cursor = index + 1
      }
      if (out !== null) return out
    }
    return null
  }

  #write (frame: ServerFrame): void {
    const data = JSON.stringify(frame)
    this.#send({ frame, data, size: Buffer.byteLength(data) })
  }

  #send ({ frame, data, size }: { frame: ServerFrame, data: string | Buffer, size: number }): void {
    const ws = this.#ws
    if (ws.readyState !== 1) return
    const counters = this.#counters
    counters.frames++
    counters.bytes += size
    if (frame.type === 'token') counters.tokens += frame.chunks
    else if (frame.type === 'cancelled') counters.cancels++
    else if (frame.type === 'error') counters.errors++
    ws.send(data, { binary: false }, this.#onWritten)
  }

  #onWritten = (): void => {
    const waiter = this.#onWrittenWaiter
    if (waiter !== undefined && !this.#congested()) waiter()
  }

  #congested (): boolean {
    return this.#ws.bufferedAmount >= this.#maxBufferedBytes
  }

  /**
   * Waits until the socket can take more. 'drain' fires only when a write
   * was refused (writableNeedDrain); when the limit is below the socket's
   * own highWaterMark, the callback of the write that empties the buffer
   * wakes us instead. Either way 'close' ends the wait.
   */
  #wait (): void {
    if (this.#waiting) return
    this.#waiting = true
    const raw = this.#raw
    const ws = this.#ws
    if (this.#stallTimeout > 0 && this.#stallTimer === undefined) {
      const onTimer = (): void => {
        this.#stallTimer = undefined
        if (!this.#waiting || this.#closed) return
        if (this.#hooks.onStall(ws.bufferedAmount) && this.#waiting && !this.#closed) {
          this.#stallTimer = setTimeout(onTimer, this.#stallTimeout).unref()
        }
      }
      this.#stallTimer = setTimeout(onTimer, this.#stallTimeout).unref()
    }
    const done = (): void => {
      raw.removeListener('drain', done)
      ws.removeListener('close', done)
      ws.removeListener('error', done)
      this.#onWrittenWaiter = undefined
      this.#waiting = false
      if (this.#closed) return
      if (!this.#congested()) {
        clearTimeout(this.#stallTimer)
        this.#stallTimer = undefined
        this.#wake()
      }
      this.#kick()
    }
    ws.once('close', done)
    ws.once('error', done)
    if (raw.writableNeedDrain === true) raw.once('drain', done)
    else this.#onWrittenWaiter = done
  }
}
