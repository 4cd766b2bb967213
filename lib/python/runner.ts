import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { InvalidOptionError, RunError } from '../errors.js'
import { integerOption, MAX_DELAY, rejectUnknownOptions } from '../options.js'
import type { RunContext, RunnerObject, RunRequest } from '../runner.js'
import type { AutoGenEvent } from '../schemas/events.js'
import { RunChannel } from './channel.js'
import { WorkerPool } from './pool.js'
import type { WorkerStats } from './protocol.js'
import type { FastifyBaseLogger } from 'fastify'
import { LoggerRef } from './logger.js'
import { registerBridgeMetrics } from './metrics.js'
import type { MetricsRegistry } from '../observe.js'

export interface PythonRunnerOptions {
  /** `module:callable` returning an AgentChat agent or team (anything with run_stream). Required. */
  factory: string
  /** The interpreter. Default: ./.venv/bin/python in cwd, else this package's .venv, else python3. */
  python?: string
  /** Warm worker processes. Default 2. */
  workers?: number
  /**
   * Items granted to a run's worker ahead of the client (credit window). Default 256: one run
   * streams as fast as the worker makes tokens only if the window outlasts a round trip
   * (worker → Node → credit → worker); 64 held one run to ~80% of that.
   */
  credit?: number
  /** Working directory of the workers; the factory module is imported from here. Default process.cwd(). */
  cwd?: string
  /** Extra directories for the workers' PYTHONPATH. */
  pythonPath?: string[]
  /**
   * Variables of the server's environment the workers also see, beyond the
   * system ones they always get (WORKER_ENV_DEFAULTS: PATH, HOME, locale,
   * temp dirs, proxies, CA bundles). Secrets the server holds are withheld
   * unless named here, e.g. ['OPENAI_API_KEY']; ['*'] passes everything.
   */
  passEnv?: string[]
  /** Variables set for the workers, over what they inherit. */
  env?: Record<string, string>
  /** Milliseconds a worker may take to get ready (import AutoGen and the factory) before it is killed and restarted, and a run waits for one. Default 60000. */
  readyTimeout?: number
  /** Longest NDJSON line between Node and a worker, either way, in bytes. A run whose request or item would be longer ends with BAD_REQUEST or ITEM_TOO_LARGE. Default 16 MiB. */
  maxLineBytes?: number
  /** Largest total of a task's images, in pixels (width × height), read from the image headers before anything is decoded. Default 16777216 (4096 × 4096). */
  maxImagePixels?: number
  /** Largest total of a task's images, in decoded bytes, from their base64 lengths before anything is decoded. Default 10 MiB. */
  maxImageBytes?: number
  /** Bytes of messages a worker may have not read yet (its stdin backlog) and still take a new run; past it, runs end with AGS_WORKER_BUSY. Default 1 MiB. */
  maxQueuedBytes?: number
  /** Milliseconds between heartbeats (a `ping` the worker answers from its stdin reader) to each ready worker. Default 1000. */
  heartbeatInterval?: number
  /**
   * Milliseconds a ready worker may leave a heartbeat unanswered, writing
   * nothing else either, before it is taken for frozen (SIGSTOP, a deadlock,
   * its loop blocked): its runs end with AGS_WORKER_UNRESPONSIVE, it is
   * killed and replaced. Default 5000; 0: off.
   */
  heartbeatTimeout?: number
  /** Milliseconds close() gives workers to exit before they are killed. Default 5000. */
  shutdownTimeout?: number
  /** Where worker logs (Python's stderr) and restarts go. Default: the Fastify logger of the app that registers the plugin. */
  logger?: FastifyBaseLogger
}

export interface PythonRunner extends RunnerObject {
  /** Called by the plugin at registration: worker logs go to the app's logger unless `logger` was given. */
  init: (log: FastifyBaseLogger) => void
  /** Stops the workers (awaited by fastify.close()). */
  close: () => Promise<void>
  /** Resolves when the first worker is ready; rejects with AGS_PYTHON_NOT_READY, naming the interpreter and what is missing, when none can start. Awaited by app.ready(). */
  start: () => Promise<void>
  /** The live workers' process ids (a worker being restarted has none); a fresh array on every read. */
  readonly pids: ReadonlyArray<number | undefined>
  /** Runs each worker serves, as Node sees them (0 once every run has ended); a fresh array on every read. */
  readonly loads: readonly number[]
  /** Every worker's own counters (docs/bridge.md, `stats`); null for a worker that has exited. */
  stats: () => Promise<Array<WorkerStats | null>>
  /** Resolves when every worker has imported AutoGen and the factory. */
  ready: () => Promise<void>
  /** Called by the plugin with its `metrics` registry: the workers' metrics (docs/metrics.md) go there too. */
  metrics: (registry: MetricsRegistry, promClient: unknown) => void
  /** Keeps threads: a worker loads a thread's state into the factory's team (load_state) and sends it back after the run (save_state). */
  threads: true
  /** A thread's run waiting at a UserProxyAgent's question longer than holdInputFor ends there, its state saved, and frees its worker (docs/bridge.md, Threads). */
  interrupts: true
}

/**
 * What a worker sees of the server's environment without being told more:
 * what Python, pip's certificates and proxies need to work, nothing that
 * could be a secret. Names ending in "*" are prefixes.
 */
export const WORKER_ENV_DEFAULTS: readonly string[] = [
  'PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'LANGUAGE', 'LC_*', 'TZ', 'TMPDIR', 'TEMP', 'TMP',
  'SYSTEMROOT', 'COMSPEC', 'PATHEXT', 'WINDIR',
  'VIRTUAL_ENV', 'PYTHONHOME', 'PYTHONIOENCODING', 'PYTHONUTF8', 'PYTHONDONTWRITEBYTECODE',
  'SSL_CERT_FILE', 'SSL_CERT_DIR', 'REQUESTS_CA_BUNDLE', 'CURL_CA_BUNDLE',
  'HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'http_proxy', 'https_proxy', 'no_proxy',
  'AUTOGEN_STREAM_LOG_LEVEL'
]

function workerEnv (server: NodeJS.ProcessEnv, pass: readonly string[] | undefined): NodeJS.ProcessEnv {
  if (pass !== undefined && (!Array.isArray(pass) || pass.some((n) => typeof n !== 'string' || n === ''))) {
    throw new InvalidOptionError('pythonRunner.passEnv', 'expected an array of variable names', JSON.stringify(pass))
  }
  // Windows keeps variables' own casing (Path, SystemRoot) and compares them without it.
  const fold = process.platform === 'win32' ? (s: string): string => s.toUpperCase() : (s: string): string => s
  const names = [...WORKER_ENV_DEFAULTS, ...(pass ?? [])].map(fold)
  if (names.includes('*')) return { ...server }
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(server)) {
    const name = fold(key)
    if (names.some((n) => n.endsWith('*') ? name.startsWith(n.slice(0, -1)) : name === n)) env[key] = value
  }
  return env
}

// Checked by the compiler against PythonRunnerOptions, as the plugin's own.
const PYTHON_OPTION_NAMES: Record<keyof PythonRunnerOptions, true> = {
  factory: true,
  python: true,
  workers: true,
  credit: true,
  cwd: true,
  pythonPath: true,
  env: true,
  passEnv: true,
  readyTimeout: true,
  maxLineBytes: true,
  maxImagePixels: true,
  maxImageBytes: true,
  maxQueuedBytes: true,
  heartbeatInterval: true,
  heartbeatTimeout: true,
  shutdownTimeout: true,
  logger: true
}

const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

function defaultPython (cwd: string): string {
  for (const candidate of [join(cwd, '.venv', 'bin', 'python'), join(packageRoot, '.venv', 'bin', 'python')]) {
    if (existsSync(candidate)) return candidate
  }
  return 'python3'
}

function positive (value: unknown, name: string, fallback: number): number {
  return integerOption(value, `pythonRunner.${name}`, fallback, 1)
}

/**
 * A runner backed by warm Python workers running real AutoGen. Workers start
 * when the runner is created; `close()` (awaited by fastify.close()) stops them.
 */
export function pythonRunner (options: PythonRunnerOptions): PythonRunner {
  const factory = options?.factory
  if (typeof factory !== 'string' || !/^[A-Za-z_][\w.]*:[A-Za-z_]\w*$/.test(factory)) {
    throw new InvalidOptionError('pythonRunner.factory', 'expected "module:callable"', JSON.stringify(factory))
  }
  rejectUnknownOptions(options as unknown as Record<string, unknown>, Object.keys(PYTHON_OPTION_NAMES), 'pythonRunner.')
  const cwd = resolve(options.cwd ?? process.cwd())
  const python = options.python ?? defaultPython(cwd)
  const workers = positive(options.workers, 'workers', 2)
  const credit = positive(options.credit, 'credit', 256)
  const readyTimeout = integerOption(options.readyTimeout, 'pythonRunner.readyTimeout', 60_000, 1, MAX_DELAY)
  const maxLineBytes = integerOption(options.maxLineBytes, 'pythonRunner.maxLineBytes', 16 * 1024 * 1024, 64 * 1024, 1024 * 1024 * 1024)
  const maxImagePixels = positive(options.maxImagePixels, 'maxImagePixels', 4096 * 4096)
  const maxImageBytes = positive(options.maxImageBytes, 'maxImageBytes', 10 * 1024 * 1024)
  const maxQueuedBytes = positive(options.maxQueuedBytes, 'maxQueuedBytes', 1024 * 1024)
  const shutdownTimeout = positive(options.shutdownTimeout, 'shutdownTimeout', 5000)
  const heartbeatInterval = integerOption(options.heartbeatInterval, 'pythonRunner.heartbeatInterval', 1000, 1, MAX_DELAY)
  const heartbeatTimeout = integerOption(options.heartbeatTimeout, 'pythonRunner.heartbeatTimeout', 5000, 0, MAX_DELAY)
  const pythonPath = [...(options.pythonPath ?? []), process.env.PYTHONPATH].filter((p) => p !== undefined && p !== '')
  const env: NodeJS.ProcessEnv = { ...workerEnv(process.env, options.passEnv), ...options.env, PYTHONUNBUFFERED: '1' }
  if (pythonPath.length > 0) env.PYTHONPATH = pythonPath.join(':')
  const log = new LoggerRef(options.logger)
  const pool = new WorkerPool({ python, factory, cwd, env, maxLineBytes, maxImagePixels, maxImageBytes, readyTimeout, maxQueuedBytes, heartbeatInterval, heartbeatTimeout }, workers, log)

  return {
    run: (request: RunRequest, context: RunContext) => new PythonRun(pool, request, context, credit),
    // The worker loads a thread's state into the factory's team and saves it after the run (docs/bridge.md, Threads).
    threads: true,
    // The worker ends a thread's run at a question and goes on from the answer in a later run (interrupt.py).
    interrupts: true,
    init: (appLog) => { if (options.logger === undefined) log.set(appLog) },
    close: () => pool.close(shutdownTimeout),
    start: () => pool.start(),
    get pids () { return pool.workers.map((w) => (w.exited ? undefined : w.pid)) },
    get loads () { return pool.workers.map((w) => w.load) },
    stats: () => Promise.all(pool.workers.map((w) => w.stats())),
    ready: async () => { await Promise.all(pool.workers.map((w) => w.ready)) },
    metrics: (registry, promClient) => registerBridgeMetrics(pool, registry, promClient)
  }
}

/**
 * One run as the plugin's Run pulls it: a worker is acquired at the first
 * next(), then every next() is the run's channel's, which resolves at once
 * while items wait (no generator in between: a token is one step).
 */
class PythonRun implements AsyncIterableIterator<AutoGenEvent> {
  readonly #pool: WorkerPool
  readonly #request: RunRequest
  readonly #context: RunContext
  readonly #credit: number
  #channel: RunChannel | undefined
  #starting: Promise<RunChannel> | undefined
  #returned = false

  constructor (pool: WorkerPool, request: RunRequest, context: RunContext, credit: number) {
    this.#pool = pool
    this.#request = request
    this.#context = context
    this.#credit = credit
  }

  [Symbol.asyncIterator] (): this { return this }

  next (): Promise<IteratorResult<AutoGenEvent>> {
    if (this.#channel !== undefined) return this.#channel.next()
    if (this.#returned) return Promise.resolve({ value: undefined, done: true })
    this.#starting ??= this.#start()
    return this.#starting.then((channel) => channel.next())
  }

  async #start (): Promise<RunChannel> {
    const request = this.#request
    const context = this.#context
    let worker
    try {
      worker = await this.#pool.acquire(context.signal)
    } catch (err) {
      // Why there is no worker (a factory that does not import, with its
      // paths) is for the server log; the client gets the code.
      if (err instanceof RunError && err.cause !== undefined) {
        context.log.error({ runKey: request.key, err: err.cause }, `autogen-stream: ${err.message}`)
      }
      throw err
    }
    // Returned while it waited for the worker: the channel starts nothing then (the signal is aborted), or cancels at once.
    const channel = this.#channel = new RunChannel(worker, request, context, this.#credit, this.#pool.counts)
    if (this.#returned) await channel.return()
    return channel
  }

  async return (): Promise<IteratorResult<AutoGenEvent>> {
    this.#returned = true
    const starting = this.#starting
    if (this.#channel === undefined && starting !== undefined) await starting.catch(() => {})
    await this.#channel?.return()
    return { value: undefined, done: true }
  }
}
