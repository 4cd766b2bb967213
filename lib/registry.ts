import type { Run } from './run.js'

/**
 * Active runs by id, kept apart from the connections that watch them: a
 * connection holds ids, the registry holds runs. This is the seam where a
 * later store can let a run outlive its connection (resume by seq) or keep
 * its events in an external log.
 */
export interface RunRegistry {
  readonly size: number
  has (runId: string): boolean
  get (runId: string): Run | undefined
  add (run: Run): void
  delete (runId: string): void
  values (): IterableIterator<Run>
}

export class MemoryRunRegistry implements RunRegistry {
  readonly #runs = new Map<string, Run>()

  get size (): number { return this.#runs.size }
  has (runId: string): boolean { return this.#runs.has(runId) }
  get (runId: string): Run | undefined { return this.#runs.get(runId) }
  values (): IterableIterator<Run> { return this.#runs.values() }

  add (run: Run): void {
    this.#runs.set(run.id, run)
    // A run leaves the registry once its last frame is out (Run destroys itself).
    run.once('close', () => {
      if (this.#runs.get(run.id) === run) this.#runs.delete(run.id)
    })
  }

  delete (runId: string): void {
    this.#runs.delete(runId)
  }
}
