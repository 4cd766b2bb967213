import { randomUUID } from 'node:crypto'
import { InputTimeoutError } from './errors.js'
import type { InputRequestOptions } from './runner.js'

/*
 * A run's pending input requests (human in the loop): the runner awaits
 * requestInput(); the first `input` frame with that request id resolves
 * it, from whichever connection watches the run. Later answers find
 * nothing pending (AGS_UNKNOWN_REQUEST).
 *
 * A thread's run on a runner that can interrupt also holds each request
 * for holdFor ms only: then `onHold` is told, and the run is interrupted
 * there (run.ts) instead of holding its runner until the answer comes.
 */

interface Pending {
  resolve: (content: string) => void
  reject: (err: Error) => void
  timer: NodeJS.Timeout | undefined
  /** holdInputFor's timer; undefined when this request is never interrupted. */
  hold: NodeJS.Timeout | undefined
}

export class InputRequests {
  readonly #pending = new Map<string, Pending>()
  readonly #defaultTimeout: number
  /** ms a request may wait before its onHold (holdInputFor); undefined: requests are never interrupted. */
  readonly #holdFor: number | undefined

  constructor (defaultTimeout: number, holdFor?: number) {
    this.#defaultTimeout = defaultTimeout
    this.#holdFor = holdFor
  }

  get size (): number { return this.#pending.size }

  has (requestId: string): boolean { return this.#pending.has(requestId) }

  /** Registers a request; `announce` makes its frame once it is registered; `onHold` is called once it waited holdFor. */
  ask (options: InputRequestOptions, announce: (requestId: string) => void, onHold?: (requestId: string) => void): Promise<string> {
    const requestId = options.requestId ?? randomUUID()
    if (this.#pending.has(requestId)) return Promise.reject(new Error(`input request "${requestId}" is already pending`))
    const timeout = options.timeout ?? this.#defaultTimeout
    return new Promise<string>((resolve, reject) => {
      const pending: Pending = { resolve, reject, timer: undefined, hold: undefined }
      if (timeout > 0) {
        pending.timer = setTimeout(() => {
          this.#settle(requestId)
          reject(new InputTimeoutError(requestId, timeout))
        }, timeout).unref()
      }
      if (this.#holdFor !== undefined && onHold !== undefined && options.interruptible !== false) {
        pending.hold = setTimeout(() => {
          pending.hold = undefined
          onHold(requestId)
        }, this.#holdFor).unref()
      }
      this.#pending.set(requestId, pending)
      announce(requestId)
    })
  }

  /** Delivers an answer; false when no such request is pending (answered already, timed out, or never asked). */
  answer (requestId: string, content: string): boolean {
    const pending = this.#settle(requestId)
    if (pending === undefined) return false
    pending.resolve(content)
    return true
  }

  /** Ends one request with an error (its interrupt); false when it is not pending. */
  fail (requestId: string, reason: Error): boolean {
    const pending = this.#settle(requestId)
    if (pending === undefined) return false
    pending.reject(reason)
    return true
  }

  /** No request is interrupted from now on (a run is interrupted once). */
  stopHolding (): void {
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.hold)
      pending.hold = undefined
    }
  }

  rejectAll (reason: unknown): void {
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer)
      clearTimeout(pending.hold)
      pending.reject(reason as Error)
    }
    this.#pending.clear()
  }

  #settle (requestId: string): Pending | undefined {
    const pending = this.#pending.get(requestId)
    if (pending === undefined) return undefined
    this.#pending.delete(requestId)
    clearTimeout(pending.timer)
    clearTimeout(pending.hold)
    return pending
  }
}
