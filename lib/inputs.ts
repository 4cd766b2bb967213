import { randomUUID } from 'node:crypto'
import { InputTimeoutError } from './errors.js'
import type { InputRequestOptions } from './runner.js'

/*
 * A run's pending input requests (human in the loop): the runner awaits
 * requestInput(); the first `input` frame with that request id resolves
 * it, from whichever connection watches the run. Later answers find
 * nothing pending (AGS_UNKNOWN_REQUEST).
 */

interface Pending {
  resolve: (content: string) => void
  reject: (err: Error) => void
  timer: NodeJS.Timeout | undefined
}

export class InputRequests {
  readonly #pending = new Map<string, Pending>()
  readonly #defaultTimeout: number

  constructor (defaultTimeout: number) {
    this.#defaultTimeout = defaultTimeout
  }

  get size (): number { return this.#pending.size }

  has (requestId: string): boolean { return this.#pending.has(requestId) }

  /** Registers a request; `announce` makes its frame once it is registered. */
  ask (options: InputRequestOptions, announce: (requestId: string) => void): Promise<string> {
    const requestId = options.requestId ?? randomUUID()
    if (this.#pending.has(requestId)) return Promise.reject(new Error(`input request "${requestId}" is already pending`))
    const timeout = options.timeout ?? this.#defaultTimeout
    return new Promise<string>((resolve, reject) => {
      const pending: Pending = { resolve, reject, timer: undefined }
      if (timeout > 0) {
        pending.timer = setTimeout(() => {
          this.#pending.delete(requestId)
          reject(new InputTimeoutError(requestId, timeout))
        }, timeout).unref()
      }
      this.#pending.set(requestId, pending)
      announce(requestId)
    })
  }

  /** Delivers an answer; false when no such request is pending (answered already, timed out, or never asked). */
  answer (requestId: string, content: string): boolean {
    const pending = this.#pending.get(requestId)
    if (pending === undefined) return false
    this.#pending.delete(requestId)
    clearTimeout(pending.timer)
    pending.resolve(content)
    return true
  }

  rejectAll (reason: unknown): void {
    for (const pending of this.#pending.values()) {
      clearTimeout(pending.timer)
      pending.reject(reason as Error)
    }
    this.#pending.clear()
  }
}
