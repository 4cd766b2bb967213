import type { Run } from './run.js'

/**
 * Active runs by key, kept apart from the connections that watch them. A
 * run's key is made by the server (a random UUID), never the client's
 * runId, so clients that pick the same runId neither collide nor learn of
 * each other. This is the seam where a
 * later store can let a run outlive its connection (resume by seq, with the
 * owner proven by a token instead of the connection) or keep its events in
 * an external log.
 */
export interface RunRegistry {
  readonly size: number
  has (key: string): boolean
  get (key: string): Run | undefined
  add (run: Run): void
  delete (key: string): void
  values (): IterableIterator<Run>
}

export class MemoryRunRegistry implements RunRegistry {
  readonly #runs = new Map<string, Run>()

  get size (): number { return this.#runs.size }
  has (key: string): boolean { return this.#runs.has(key) }
  get (key: string): Run | undefined { return this.#runs.get(key) }
  values (): IterableIterator<Run> { return this.#runs.values() }

  add (run: Run): void {
    this.#runs.set(run.key, run)
    // A run leaves the registry once its last frame is out (Run destroys itself).
    run.once('close', () => {
      if (this.#runs.get(run.key) === run) this.#runs.delete(run.key)
    })
  }

  delete (key: string): void {
    this.#runs.delete(key)
  }
}
