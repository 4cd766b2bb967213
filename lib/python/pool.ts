import type { LoggerRef } from './logger.js'
import { PythonNotReadyError, RunError } from '../errors.js'
import { PythonWorker, type WorkerSpawnOptions } from './worker.js'
import { createBridgeCounts, type BridgeCounts } from './metrics.js'

/**
 * A fixed number of warm workers. A run goes to the least loaded live worker.
 * A worker that exits is replaced; one that keeps dying before it is ready
 * (a factory that does not import, say) is restarted with a growing delay,
 * so a broken deployment does not spin. Its reason is logged at error once
 * (again only when it changes), and while no worker is ready for that
 * reason, runs fail at once instead of waiting out readyTimeout.
 */
export class WorkerPool {
  readonly #spawnOptions: Omit<WorkerSpawnOptions, 'log'>
  readonly #log: LoggerRef
  readonly #slots: PythonWorker[] = []
  readonly #failures: number[] = []
  readonly #timers = new Set<NodeJS.Timeout>()
  /** Runs waiting for a worker while every slot is between a death and its restart. */
  #spawnWaiters: Array<() => void> = []
  #closed = false
  /** Why the last worker that died before it was ready died; cleared when one gets ready. */
  #broken: string | undefined
  #loggedReason: string | undefined
  /** Settles with the first worker that gets ready or dies trying (start()). */
  readonly #started: Promise<void>
  #settleStart: ((reason?: string) => void) | undefined
  /** Restarts and credit stalls, for the runner's metrics. */
  readonly counts: BridgeCounts = createBridgeCounts()

  constructor (spawnOptions: Omit<WorkerSpawnOptions, 'log'>, size: number, log: LoggerRef) {
    this.#spawnOptions = spawnOptions
    this.#log = log
    this.#started = new Promise<void>((resolve, reject) => {
      this.#settleStart = (reason) => {
        this.#settleStart = undefined
        if (reason === undefined) resolve()
        else reject(new PythonNotReadyError(spawnOptions.python, reason, hintFor(reason)))
      }
    })
    this.#started.catch(() => {})
    for (let i = 0; i < size; i++) {
      this.#failures.push(0)
      this.#slots.push(this.#spawn(i))
    }
  }

  get workers (): readonly PythonWorker[] { return this.#slots }

  /** Resolves when the first worker is ready; rejects (AGS_PYTHON_NOT_READY) when the first to settle dies before it is ready. */
  start (): Promise<void> { return this.#started }

  #spawn (slot: number): PythonWorker {
    const worker = new PythonWorker({ ...this.#spawnOptions, log: this.#log })
    worker.ready.then(() => {
      this.#failures[slot] = 0
      this.#broken = undefined
      this.#loggedReason = undefined
      this.#settleStart?.()
    }, () => {})
    worker.once('exit', (description: string) => {
      if (this.#closed) return
      this.counts.restarts++
      const failures = this.#failures[slot] = (this.#failures[slot] ?? 0) + 1
      const delay = Math.min(100 * 2 ** (failures - 1), 5000)
      if (worker.isReady) {
        this.#log.current.warn({ worker: worker.pid, failures, restartInMs: delay }, `autogen-stream: ${description}; restarting`)
      } else {
        // It never got ready: the same cause will stop its successors.
        this.#broken = description
        this.#settleStart?.(description)
        if (description !== this.#loggedReason) {
          this.#loggedReason = description
          this.#log.current.error({ python: this.#spawnOptions.python, reason: description }, `autogen-stream: the Python worker cannot start: ${description}. ${hintFor(description)}`)
        } else {
          this.#log.current.debug({ worker: worker.pid, failures, restartInMs: delay }, 'autogen-stream: Python worker died before it was ready again; restarting')
        }
      }
      const timer = setTimeout(() => {
        this.#timers.delete(timer)
        if (this.#closed) return
        this.#slots[slot] = this.#spawn(slot)
        for (const wake of this.#spawnWaiters.splice(0)) wake()
      }, delay)
      timer.unref()
      this.#timers.add(timer)
    })
    return worker
  }

  /** A ready worker for a new run, or a RunError saying why there is none. */
  async acquire (signal: AbortSignal): Promise<PythonWorker> {
    if (signal.aborted) throw signal.reason
    let timer: NodeJS.Timeout | undefined
    let onAbort: (() => void) | undefined
    const limit = new Promise<never>((_resolve, reject) => {
      const readyTimeout = this.#spawnOptions.readyTimeout
      timer = setTimeout(() => reject(new Error(`not ready within ${readyTimeout} ms`)), readyTimeout)
      onAbort = () => reject(signal.reason)
      signal.addEventListener('abort', onAbort, { once: true })
    })
    try {
      for (;;) {
        if (this.#closed) throw RunError.of('AGS_WORKER_POOL_CLOSED')
        // A pool whose workers die before they are ready cannot serve: say so now.
        if (this.#broken !== undefined && !this.#slots.some((w) => w.isReady && !w.exited)) throw new Error(this.#broken)
        // A worker that does not keep up with its stdin takes no new run: a
        // client cycling start/cancel would otherwise queue lines (and work)
        // without bound, and every other run's credit and cancel behind them.
        const all = this.#slots.filter((w) => !w.exited)
        const live = all.filter((w) => w.backlog < this.#spawnOptions.maxQueuedBytes)
        if (live.length === 0 && all.length > 0) throw RunError.of('AGS_WORKER_BUSY', [this.#spawnOptions.maxQueuedBytes])
        if (live.length === 0) {
          // Every worker died and waits for its restart.
          await Promise.race([new Promise<void>((resolve) => { this.#spawnWaiters.push(resolve) }), limit])
          continue
        }
        let best = live[0] as PythonWorker
        for (const w of live) if (w.load < best.load) best = w
        // A worker that dies before it is ready is passed over for the next
        // one, unless it said why it cannot serve: then none of them can.
        await Promise.race([best.ready.catch(() => {}), limit])
        if (best.fatal !== undefined) throw new Error(best.fatal)
        // It may have died between ready and now: pick again.
        if (!best.exited) return best
      }
    } catch (err) {
      if (signal.aborted || err instanceof RunError) throw err
      throw RunError.of('AGS_WORKER_UNAVAILABLE', [], { cause: err })
    } finally {
      clearTimeout(timer)
      if (onAbort !== undefined) signal.removeEventListener('abort', onAbort)
    }
  }

  async close (timeout: number): Promise<void> {
    this.#closed = true
    for (const timer of this.#timers) clearTimeout(timer)
    this.#timers.clear()
    for (const wake of this.#spawnWaiters.splice(0)) wake()
    await Promise.all(this.#slots.map((w) => w.shutdown(timeout)))
  }
}

/** What to do about a worker that cannot start, by what stopped it. */
function hintFor (reason: string): string {
  return /autogen|could not start|No module named/.test(reason) && !/cannot import factory module/.test(reason)
    ? 'Run "npx fastify-autogen-stream setup-python" in your app: it makes ./.venv with the bridge and AutoGen, which pythonRunner uses by default; or pass pythonRunner({ python }) an interpreter that has them'
    : 'Check pythonRunner\'s factory, cwd and pythonPath'
}
