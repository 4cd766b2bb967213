import { spawn, type ChildProcessByStdio } from 'node:child_process'
import { EventEmitter } from 'node:events'
import type { Readable, Writable } from 'node:stream'
import { RunError } from '../errors.js'
import { LineSplitter, runOfLine } from './lines.js'
import { checkEvent, type RunEvent, type WorkerEvent, type WorkerOp, type WorkerStats } from './protocol.js'
import type { LoggerRef } from './logger.js'

export type { WorkerEvent, WorkerOp, WorkerStats } from './protocol.js'

export interface WorkerSpawnOptions {
  python: string
  factory: string
  cwd: string
  env: NodeJS.ProcessEnv
  log: LoggerRef
  /** Longest line either side writes; longer ones end their run with an error. */
  maxLineBytes: number
  maxImagePixels: number
  maxImageBytes: number
  /** A worker not ready (AutoGen and the factory imported) within this many ms is killed. */
  readyTimeout: number
  /** A worker with this many bytes of stdin unread takes no new run (AGS_WORKER_BUSY). */
  maxQueuedBytes: number
  /** ms between heartbeats (`ping`) once the worker is ready. */
  heartbeatInterval: number
  /** ms a ping may go unanswered, with no other line from the worker either, before it is taken for frozen and killed; 0: never. */
  heartbeatTimeout: number
}

/**
 * The last `SomeError: message` of what Python wrote to stderr, if any: the
 * last line of a traceback, or the one `python -m` writes when the module
 * itself is missing ("Error while finding module specification for '...'
 * (ModuleNotFoundError: No module named '...')").
 */
function lastException (stderr: string): string | undefined {
  let found: string | undefined
  for (const line of stderr.split('\n')) {
    const m = /\(?\b([A-Z][\w.]*(?:Error|Exception))(: [^\n]*)?$/.exec(line.trim())
    if (m === null) continue
    let text = `${m[1] as string}${m[2] ?? ''}`
    if (m[0].startsWith('(') && text.endsWith(')')) text = text.slice(0, -1)
    found = text
  }
  return found?.slice(0, 500)
}

function withCause (description: string, cause: string | undefined): string {
  return cause === undefined ? description : `${description}: ${cause}`
}

/** Thrown by encode(): the op cannot be written as one line the worker accepts. */
export class EncodeError extends Error {}

/** Handlers of one run's messages, registered while the run is on this worker. */
export interface RunListener {
  onEvent: (event: RunEvent) => void
  /** `error`: what the run ends with, when not AGS_WORKER_DIED (a worker killed for missing its heartbeat). */
  onWorkerExit: (description: string, error?: RunError) => void
}

/**
 * One warm Python process. Lines from stdout are parsed and routed to the
 * run they name (by the server's run key, never a client's runId); stderr
 * is the worker's log and goes to ours. Writes to stdin are plain stream
 * writes: the pipe buffers them, and a worker that stops reading its stdin
 * only delays its own runs.
 *
 * Nothing the worker writes can break the server: every line is parsed
 * inside a guard, and a line that cannot be read or is too long ends the
 * run it names (RunListener.onEvent with a synthesized error) instead of
 * being dropped, which would leave that run waiting for ever.
 */
export class PythonWorker extends EventEmitter {
  readonly #child: ChildProcessByStdio<Writable, Readable, Readable>
  readonly #runs = new Map<string, RunListener>()
  readonly #log: LoggerRef
  readonly ready: Promise<void>
  #statsWaiters = new Map<number, (stats: WorkerStats | null) => void>()
  #statsId = 0
  #exited = false
  #fatal: string | undefined
  /** Why the worker was killed before it was ready, if it was. */
  #notReady: string | undefined
  #isReady = false
  /** The end of stderr: a worker that dies before it can speak (no bridge in its Python) says why only there. */
  #stderrTail = ''
  readonly #maxLineBytes: number
  readonly #heartbeatInterval: number
  readonly #heartbeatTimeout: number
  #heartbeat: NodeJS.Timeout | undefined
  /** performance.now() when the worker last wrote anything: any line proves its loop runs. */
  #lastHeard = 0
  #pingId = 0
  /** The id of the ping not answered yet: one at a time, so a frozen worker's pipe gets one, not one per interval. */
  #pingOutstanding: number | undefined
  /** performance.now() when that ping was sent. */
  #pingSentAt = 0
  #suspect = false
  /** Set when the heartbeat killed the worker: its runs end with this instead of AGS_WORKER_DIED. */
  #exitError: RunError | undefined
  #rejectReady: (err: Error) => void = () => {}

  constructor (opts: WorkerSpawnOptions) {
    super()
    this.#log = opts.log
    this.#maxLineBytes = opts.maxLineBytes
    this.#heartbeatInterval = opts.heartbeatInterval
    this.#heartbeatTimeout = opts.heartbeatTimeout
    const args = [
      '-u', '-m', 'autogen_stream_bridge.worker', '--factory', opts.factory,
      '--max-line-bytes', String(opts.maxLineBytes),
      '--max-image-pixels', String(opts.maxImagePixels),
      '--max-image-bytes', String(opts.maxImageBytes)
    ]
    this.#child = spawn(opts.python, args, {
      cwd: opts.cwd,
      env: opts.env,
      stdio: ['pipe', 'pipe', 'pipe']
    })
    let resolveReady: () => void
    let rejectReady: (err: Error) => void
    this.ready = new Promise((resolve, reject) => { resolveReady = resolve; rejectReady = reject })
    this.#rejectReady = (err) => rejectReady(err)
    // Nobody may be waiting on ready when the worker dies at once.
    this.ready.catch(() => {})
    // A worker stuck importing (a factory module that blocks, a hung
    // network import) would otherwise make every run wait out readyTimeout.
    const readyTimer = setTimeout(() => {
      this.#log.current.warn({ worker: this.pid }, `autogen-stream: Python worker not ready within ${opts.readyTimeout} ms; killing it`)
      this.#notReady = `the Python worker was not ready within ${opts.readyTimeout} ms`
      this.kill('SIGKILL')
    }, opts.readyTimeout).unref()
    this.ready.then(() => clearTimeout(readyTimer), () => clearTimeout(readyTimer))

    const lines = new LineSplitter(opts.maxLineBytes, {
      onLine: (line) => this.#onLine(line.toString('utf8'), resolveReady),
      onOverflow: (prefix, bytes) => this.#onOverflow(prefix.toString('utf8'), bytes)
    })
    this.#child.stdout.on('data', (data: Buffer) => {
      this.#lastHeard = performance.now()
      lines.push(data)
    })
    this.#child.stderr.setEncoding('utf8')
    this.#child.stderr.on('data', (data: string) => {
      this.#stderrTail = (this.#stderrTail + data).slice(-4096)
      for (const line of data.split('\n')) if (line.trim() !== '') this.#log.current.info({ worker: this.pid }, `python: ${line}`)
    })
    this.#child.stdin.on('error', (err) => this.#log.current.debug({ err }, 'autogen-stream: worker stdin error'))
    this.#child.on('error', (err) => {
      this.#fatal = `could not start ${opts.python}: ${err.message}`
      this.#onExit(this.#fatal, rejectReady)
    })
    // 'close', not 'exit': it fires after stdout has been read to the end,
    // so a last `fatal` or `end` line is never lost.
    this.#child.on('close', (code, signal) => {
      const how = signal !== null ? `signal ${signal}` : `code ${code ?? 'unknown'}`
      this.#onExit(this.#fatal ?? this.#notReady ?? withCause(`the Python worker exited (${how})`, lastException(this.#stderrTail)), rejectReady)
    })
  }

  get pid (): number | undefined { return this.#child.pid }
  /** What the worker said before it exited unable to serve (its factory does not import, say). */
  get fatal (): string | undefined { return this.#fatal }
  get exited (): boolean { return this.#exited }
  /** It said `ready`: AutoGen and the factory are imported. */
  get isReady (): boolean { return this.#isReady }
  get load (): number { return this.#runs.size }
  /** Bytes written to the worker's stdin that it has not read yet (what Node holds, past the pipe). */
  get backlog (): number { return this.#child.stdin.writableLength }

  #onLine (line: string, resolveReady: () => void): void {
    let checked
    try {
      checked = checkEvent(JSON.parse(line))
    } catch (err) {
      checked = { reason: (err as Error).message }
    }
    if ('reason' in checked) {
      this.#unreadable(line.slice(0, 512), RunError.of('AGS_BAD_LINE'), `${checked.reason}; line starts ${JSON.stringify(line.slice(0, 200))}`)
      return
    }
    const event = checked.event
    try {
      this.#dispatch(event, resolveReady)
    } catch (err) {
      // One run's handler failing must not stop the lines of the others.
      this.#log.current.error({ err, worker: this.pid, ev: event.ev }, 'autogen-stream: handling a worker message failed')
    }
  }

  #onOverflow (prefix: string, bytes: number): void {
    this.#unreadable(prefix, RunError.of('AGS_LINE_TOO_LONG', [this.#maxLineBytes]), `a line of more than ${bytes} bytes; it starts ${JSON.stringify(prefix.slice(0, 200))}`)
  }

  /** A line that cannot be used: the run it names (if any) ends with `code`; the rest goes to the log. */
  #unreadable (prefix: string, err: RunError, detail: string): void {
    const run = runOfLine(prefix)
    const listener = run === undefined ? undefined : this.#runs.get(run)
    this.#log.current.warn({ worker: this.pid, run, code: err.code, detail }, 'autogen-stream: unusable line from worker')
    listener?.onEvent({ ev: 'error', run: run as string, code: err.code, message: err.message, detail })
  }

  #dispatch (event: WorkerEvent, resolveReady: () => void): void {
    switch (event.ev) {
      case 'ready':
        this.#isReady = true
        this.#startHeartbeat()
        resolveReady()
        return
      case 'pong':
        if (event.id === this.#pingOutstanding) this.#pingOutstanding = undefined
        return
      case 'fatal':
        this.#fatal = event.message
        return
      case 'stats': {
        if (event.id === null) return
        const waiter = this.#statsWaiters.get(event.id)
        this.#statsWaiters.delete(event.id)
        waiter?.(event)
        return
      }
      default:
        this.#runs.get(event.run)?.onEvent(event)
    }
  }

  /**
   * From ready on, a `ping` every heartbeatInterval ms (one at a time); a
   * worker that leaves it unanswered, and writes nothing else either, for
   * heartbeatTimeout ms is frozen: SIGSTOP, a deadlock, a loop blocked in C.
   * The worker answers from its stdin reader, so a busy one still answers.
   * Judged by what it writes, never by what we could write to it (a worker
   * behind on its stdin still writes), and counted from the ping, not from
   * its last line: while our own loop is blocked we send no ping, and a
   * worker that was not asked has said nothing.
   */
  #startHeartbeat (): void {
    if (this.#heartbeatTimeout === 0) return
    this.#heartbeat = setInterval(() => this.#beat(), this.#heartbeatInterval).unref()
  }

  #stopHeartbeat (): void {
    clearInterval(this.#heartbeat)
    this.#heartbeat = undefined
  }

  /** ms since the outstanding ping was sent or the worker last wrote, whichever is later; 0 with no ping outstanding. */
  #silence (): number {
    if (this.#pingOutstanding === undefined) return 0
    return performance.now() - Math.max(this.#pingSentAt, this.#lastHeard)
  }

  #beat (): void {
    if (this.#exited || this.#suspect) return
    if (this.#silence() >= this.#heartbeatTimeout) {
      // Timers run before the poll phase: after our own loop was blocked,
      // the answers may be waiting unread in the pipe. Judge once they are read.
      this.#suspect = true
      setImmediate(() => {
        this.#suspect = false
        if (!this.#exited && this.#heartbeat !== undefined && this.#silence() >= this.#heartbeatTimeout) this.#frozen()
      })
      return
    }
    if (this.#pingOutstanding === undefined) {
      this.#pingOutstanding = ++this.#pingId
      this.#pingSentAt = performance.now()
      this.send({ op: 'ping', id: this.#pingOutstanding })
    }
  }

  #frozen (): void {
    const timeout = this.#heartbeatTimeout
    const description = `the Python worker left a heartbeat unanswered, and wrote nothing else, for ${timeout} ms (heartbeatTimeout); killed`
    this.#log.current.warn({ worker: this.pid, heartbeatTimeout: timeout, runs: this.#runs.size }, `autogen-stream: ${description}`)
    this.#exitError = RunError.of('AGS_WORKER_UNRESPONSIVE', [timeout])
    this.kill('SIGKILL')
    // At once, not at 'close': a process that is not scheduled may take its time to be reaped.
    this.#onExit(description, this.#rejectReady)
  }

  #onExit (description: string, rejectReady: (err: Error) => void): void {
    if (this.#exited) return
    this.#exited = true
    this.#stopHeartbeat()
    rejectReady(new Error(description))
    const runs = [...this.#runs.values()]
    this.#runs.clear()
    for (const run of runs) run.onWorkerExit(description, this.#exitError)
    for (const waiter of this.#statsWaiters.values()) waiter(null)
    this.#statsWaiters.clear()
    this.emit('exit', description)
  }

  attach (runId: string, listener: RunListener): void {
    this.#runs.set(runId, listener)
  }

  detach (runId: string): void {
    this.#runs.delete(runId)
  }

  /** One line for the worker, or an EncodeError (a value JSON cannot hold, a line over maxLineBytes). */
  encode (op: WorkerOp): string {
    let line: string | undefined
    try {
      line = JSON.stringify(op)
    } catch (err) {
      throw new EncodeError(`cannot be written as JSON: ${(err as Error).message}`)
    }
    if (line === undefined) throw new EncodeError('cannot be written as JSON')
    const bytes = Buffer.byteLength(line) + 1
    if (bytes > this.#maxLineBytes) throw new EncodeError(`${bytes} bytes exceed maxLineBytes (${this.#maxLineBytes})`)
    return line + '\n'
  }

  /** Writes a line made by encode(). */
  write (line: string): void {
    if (this.#exited || !this.#child.stdin.writable) return
    this.#child.stdin.write(line)
  }

  /** Ops made here (credit, cancel, ...) hold only strings and numbers: they always encode. */
  send (op: WorkerOp): void {
    this.write(JSON.stringify(op) + '\n')
  }

  /** The worker's own counters (docs/bridge.md, `stats`); null once it has exited. */
  stats (): Promise<WorkerStats | null> {
    if (this.#exited) return Promise.resolve(null)
    const id = ++this.#statsId
    return new Promise((resolve) => {
      this.#statsWaiters.set(id, resolve)
      this.send({ op: 'stats', id })
    })
  }

  kill (signal: NodeJS.Signals = 'SIGKILL'): void {
    this.#child.kill(signal)
  }

  /** Asks the worker to cancel its runs and exit; kills it if it has not within `timeout` ms. */
  async shutdown (timeout: number): Promise<void> {
    if (this.#exited) return
    const exited = new Promise<void>((resolve) => this.once('exit', () => resolve()))
    // A worker told to stop no longer reads its stdin, so it no longer answers; shutdownTimeout governs now.
    this.#stopHeartbeat()
    this.send({ op: 'shutdown' })
    this.#child.stdin.end()
    const timer = setTimeout(() => this.kill('SIGKILL'), timeout)
    await exited
    clearTimeout(timer)
  }
}
