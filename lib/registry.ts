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
  add (run: Run): void
}

export class MemoryRunRegistry implements RunRegistry {
  readonly #runs = new Map<string, Run>()

  get size (): number { return this.#runs.size }

  add (run: Run): void {
    this.#runs.set(run.key, run)
    // A run leaves the registry once its last frame is out (Run destroys itself).
    run.once('close', () => {
      if (this.#runs.get(run.key) === run) this.#runs.delete(run.key)
    })
  }
}
