import { INITIAL_STATE, type MapperState } from './mapping.js'

/*
 * A run's AG-UI mapper state, by seq: what a resume needs to map the
 * frames after a client's Last-Event-ID exactly as the cut stream would
 * have (mapping.ts). The state changes a few times per message or step,
 * not per chunk, so only the changes are kept:
 *
 *   seq:    0 ……… 12 ……………… 40 ……… 57 …
 *   state:  S0     S1 (writer  S2      S3 (closed)
 *                  streams m1) (tool)
 *
 * at(n) is the state after seq n: the last change at or before it. Every
 * AG-UI reader of the run records what it maps (their mappings agree: the
 * same frames, the same states); changes older than what the run's log
 * still keeps are dropped, but for the last one (it is the state there).
 */
export class Checkpoints {
  #seqs: number[] = []
  #states: MapperState[] = []
  #last: string = JSON.stringify(INITIAL_STATE)
  /** The newest seq any reader has mapped (-1: none). */
  mappedUpTo = -1

  /** The state after a frame spanning seqs first..last (a merged token frame spans several; its change is at its first). */
  record (first: number, last: number, state: MapperState, oldest: number): void {
    if (last <= this.mappedUpTo) return
    const json = JSON.stringify(state)
    if (json !== this.#last) {
      this.#seqs.push(Math.max(first, this.mappedUpTo + 1))
      this.#states.push(state)
      this.#last = json
    }
    this.mappedUpTo = last
    this.#prune(oldest)
  }

  /** The state after seq n (n <= mappedUpTo). */
  at (n: number): MapperState {
    for (let i = this.#seqs.length - 1; i >= 0; i--) if ((this.#seqs[i] as number) <= n) return this.#states[i] as MapperState
    return INITIAL_STATE
  }

  #prune (oldest: number): void {
    let drop = 0
    while (drop + 1 < this.#seqs.length && (this.#seqs[drop + 1] as number) < oldest) drop++
    if (drop === 0) return
    this.#seqs.splice(0, drop)
    this.#states.splice(0, drop)
  }
}
