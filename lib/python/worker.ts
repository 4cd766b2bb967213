import { spawn, type ChildProcessByStdio } from 'node:child_process'
import { EventEmitter } from 'node:events'
import type { Readable, Writable } from 'node:stream'
import type { LoggerRef } from './logger.js'

/** A message from the worker (stdout), see docs/bridge.md. */
export type WorkerEvent =
  | { ev: 'ready', pid: number, python: string, autogen: string }
  | { ev: 'item', run: string, item: Record<string, unknown> & { type: string } }
  | { ev: 'input_request', run: string, request_id: string, prompt: string }
  | { ev: 'end', run: string }
  | { ev: 'cancelled', run: string }
  | { ev: 'error', run: string, code: string, message: string }
  | { ev: 'stats', id: number, [key: string]: unknown }
  | { ev: 'fatal', message: string }

/** A message to the worker (stdin). */
export type WorkerOp =
  | { op: 'start', run: string, task: unknown, options: Record<string, unknown> }
  | { op: 'credit', run: string, n: number }
  | { op: 'cancel', run: string }
  | { op: 'stop', run: string }
  | { op: 'input', run: string, request_id: string, content: string }
  | { op: 'input_error', run: string, request_id: string, message: string }
  | { op: 'stats', id: number }
  | { op: 'shutdown' }

export interface WorkerSpawnOptions {
  python: string
  factory: string
  cwd: string
  env: NodeJS.ProcessEnv
  log: LoggerRef
}

/** Handlers of one run's messages, registered while the run is on this worker. */
export interface RunListener {
  onEvent: (event: WorkerEvent) => void
  onWorkerExit: (description: string) => void
}

/**
 * One warm Python process. Lines from stdout are parsed and routed to the
 * run they name; stderr is the worker's log and goes to ours. Writes to
 * stdin are plain stream writes: the pipe buffers them, and a worker that
 * stops reading its stdin only delays its own runs.
 */
export class PythonWorker extends EventEmitter {
  readonly #child: ChildProcessByStdio<Writable, Readable, Readable>
  readonly #runs = new Map<string, RunListener>()
  readonly #log: LoggerRef
  readonly ready: Promise<void>
  #statsWaiters = new Map<number, (stats: Record<string, unknown>) => void>()
  #statsId = 0
  #exited = false
  #fatal: string | undefined
  #stderrTail = ''

  constructor (opts: WorkerSpawnOptions) {
    super()
    this.#log = opts.log
    this.#child = spawn(opts.python, ['-u', '-m', 'autogen_stream_bridge.worker', '--factory', opts.factory], {
      cwd: opts.cwd,
      env: opts.env,
      stdio: ['pipe', 'pipe', 'pipe']
    })
    let resolveReady: () => void
    let rejectReady: (err: Error) => void
    this.ready = new Promise((resolve, reject) => { resolveReady = resolve; rejectReady = reject })
    // Nobody may be waiting on ready when the worker dies at once.
    this.ready.catch(() => {})

    let buffered = ''
    this.#child.stdout.setEncoding('utf8')
    this.#child.stdout.on('data', (data: string) => {
      buffered += data
      let newline = buffered.indexOf('\n')
      while (newline !== -1) {
        const line = buffered.slice(0, newline)
        buffered = buffered.slice(newline + 1)
        if (line.length > 0) this.#onLine(line, resolveReady)
        newline = buffered.indexOf('\n')
      }
    })
    this.#child.stderr.setEncoding('utf8')
    this.#child.stderr.on('data', (data: string) => {
      // Keep the end of stderr for the error message if the worker dies.
      this.#stderrTail = (this.#stderrTail + data).slice(-2000)
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
      this.#onExit(this.#fatal ?? `the Python worker exited (${how})`, rejectReady)
    })
  }

  get pid (): number | undefined { return this.#child.pid }
  /** What the worker said before it exited unable to serve (its factory does not import, say). */
  get fatal (): string | undefined { return this.#fatal }
  get exited (): boolean { return this.#exited }
  get load (): number { return this.#runs.size }

  #onLine (line: string, resolveReady: () => void): void {
    let event: WorkerEvent
    try {
      event = JSON.parse(line) as WorkerEvent
    } catch {
      this.#log.current.warn({ worker: this.pid, line: line.slice(0, 200) }, 'autogen-stream: unparsable line from worker')
      return
    }
    switch (event.ev) {
      case 'ready':
        resolveReady()
        return
      case 'fatal':
        this.#fatal = event.message
        return
      case 'stats': {
        const waiter = this.#statsWaiters.get(event.id)
        this.#statsWaiters.delete(event.id)
        waiter?.(event)
        return
      }
      default:
        this.#runs.get(event.run)?.onEvent(event)
    }
  }

  #onExit (description: string, rejectReady: (err: Error) => void): void {
    if (this.#exited) return
    this.#exited = true
    rejectReady(new Error(description))
    const runs = [...this.#runs.values()]
    this.#runs.clear()
    for (const run of runs) run.onWorkerExit(description)
    for (const waiter of this.#statsWaiters.values()) waiter({ exited: true })
    this.#statsWaiters.clear()
    this.emit('exit', description)
  }

  attach (runId: string, listener: RunListener): void {
    this.#runs.set(runId, listener)
  }

  detach (runId: string): void {
    this.#runs.delete(runId)
  }

  send (op: WorkerOp): void {
    if (this.#exited || !this.#child.stdin.writable) return
    this.#child.stdin.write(JSON.stringify(op) + '\n')
  }

  /** The worker's own counters (docs/bridge.md, `stats`). */
  stats (): Promise<Record<string, unknown>> {
    if (this.#exited) return Promise.resolve({ exited: true })
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
    this.send({ op: 'shutdown' })
    this.#child.stdin.end()
    const timer = setTimeout(() => this.kill('SIGKILL'), timeout)
    await exited
    clearTimeout(timer)
  }

  get stderrTail (): string { return this.#stderrTail }
}
