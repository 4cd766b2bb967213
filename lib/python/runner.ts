import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { InvalidOptionError } from '../errors.js'
import { integerOption } from '../options.js'
import type { RunContext, RunnerObject, RunRequest } from '../runner.js'
import type { AutoGenEvent } from '../schemas/events.js'
import { RunChannel } from './channel.js'
import { WorkerPool } from './pool.js'
import type { FastifyBaseLogger } from 'fastify'
import { LoggerRef } from './logger.js'

export interface PythonRunnerOptions {
  /** `module:callable` returning an AgentChat agent or team (anything with run_stream). Required. */
  factory: string
  /** The interpreter. Default: ./.venv/bin/python in cwd, else this package's .venv, else python3. */
  python?: string
  /** Warm worker processes. Default 2. */
  workers?: number
  /** Items granted to a run's worker ahead of the client (credit window). Default 64. */
  credit?: number
  /** Working directory of the workers; the factory module is imported from here. Default process.cwd(). */
  cwd?: string
  /** Extra directories for the workers' PYTHONPATH. */
  pythonPath?: string[]
  /** Extra environment for the workers (merged over process.env). */
  env?: Record<string, string>
  /** Milliseconds a run waits for a worker to be ready (imports done). Default 60000. */
  readyTimeout?: number
  /** Milliseconds close() gives workers to exit before they are killed. Default 5000. */
  shutdownTimeout?: number
  /** Where worker logs (Python's stderr) and restarts go. Default: the Fastify logger of the app that registers the plugin. */
  logger?: FastifyBaseLogger
}

export interface PythonRunner extends RunnerObject {
  /** The live workers' process ids (a worker being restarted has none). */
  readonly pids: Array<number | undefined>
  /** Every worker's own counters (docs/bridge.md, `stats`). */
  stats: () => Promise<Array<Record<string, unknown>>>
  /** Resolves when every worker has imported AutoGen and the factory. */
  ready: () => Promise<void>
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
  const cwd = resolve(options.cwd ?? process.cwd())
  const python = options.python ?? defaultPython(cwd)
  const workers = positive(options.workers, 'workers', 2)
  const credit = positive(options.credit, 'credit', 64)
  const readyTimeout = positive(options.readyTimeout, 'readyTimeout', 60_000)
  const shutdownTimeout = positive(options.shutdownTimeout, 'shutdownTimeout', 5000)
  const pythonPath = [...(options.pythonPath ?? []), process.env.PYTHONPATH].filter((p) => p !== undefined && p !== '')
  const env: NodeJS.ProcessEnv = { ...process.env, ...options.env, PYTHONUNBUFFERED: '1' }
  if (pythonPath.length > 0) env.PYTHONPATH = pythonPath.join(':')
  const log = new LoggerRef(options.logger)
  const pool = new WorkerPool({ python, factory, cwd, env }, workers, log, readyTimeout)

  return {
    async * run (request: RunRequest, context: RunContext): AsyncGenerator<AutoGenEvent> {
      const worker = await pool.acquire(context.signal)
      const channel = new RunChannel(worker, request, context, credit)
      try {
        yield * channel
      } finally {
        await channel.return()
      }
    },
    init: (appLog) => { if (options.logger === undefined) log.set(appLog) },
    close: () => pool.close(shutdownTimeout),
    get pids () { return pool.workers.map((w) => (w.exited ? undefined : w.pid)) },
    stats: () => Promise.all(pool.workers.map((w) => w.stats())),
    ready: async () => { await Promise.all(pool.workers.map((w) => w.ready)) }
  }
}
