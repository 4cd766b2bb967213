import type { Run } from './run.js'

/*
 * Limits that bound what one server spends, whoever asks:
 *
 *   upgrade ──maxConnections / maxConnectionsPerIp──> connection
 *   frame ──TokenBucket (frameRate, frameBurst)──> handled
 *   start ──maxRunsPerConnection, maxRunsPerIdentity──> RunAdmission ──> runner
 *                                                         │ maxActiveRuns running,
 *                                                         │ maxQueuedRuns waiting (FIFO),
 *                                                         └ beyond: AGS_BUSY
 */

/** frameRate frames per second on average, frameBurst at once. rate 0: no limit. */
export class TokenBucket {
  readonly #rate: number
  readonly #burst: number
  #tokens: number
  #at = performance.now()

  constructor (rate: number, burst: number) {
    this.#rate = rate
    this.#burst = burst
    this.#tokens = burst
  }

  take (): boolean {
    if (this.#rate === 0) return true
    const now = performance.now()
    this.#tokens = Math.min(this.#burst, this.#tokens + (now - this.#at) * this.#rate / 1000)
    this.#at = now
    if (this.#tokens < 1) return false
    this.#tokens--
    return true
  }
}

/**
 * Server-wide run slots. A run takes a slot until its runner is done with
 * (Run 'released': it returned, threw, or its return() settled after a
 * cancel), not merely cancelled: a runner awaiting something that ignores
 * its abort signal is still working. The next queued run gets the slot.
 * A queued run that is cancelled leaves the queue.
 */
export class RunAdmission {
  readonly #maxActive: number
  readonly #maxQueued: number
  readonly #queue: Run[] = []
  #active = 0

  constructor (maxActive: number, maxQueued: number) {
    this.#maxActive = maxActive
    this.#maxQueued = maxQueued
  }

  get active (): number { return this.#active }
  get queued (): number { return this.#queue.length }

  /** No slot and no room in the queue: a new run would be refused. */
  get full (): boolean {
    return this.#maxActive !== 0 && this.#active >= this.#maxActive && this.#queue.length >= this.#maxQueued
  }

  /** 0: the run may start now; n: it waits at position n. */
  admit (run: Run): number {
    let done = false
    const leaveQueue = (): void => {
      const index = this.#queue.indexOf(run)
      if (index !== -1) {
        this.#queue.splice(index, 1)
        done = true
      }
    }
    const release = (): void => {
      // Still queued (never begun, cancelled): it only leaves the queue.
      leaveQueue()
      if (done) return
      done = true
      this.#active--
      const next = this.#queue.shift()
      if (next !== undefined) {
        this.#active++
        next.admitted()
      }
    }
    run.once('ending', leaveQueue)
    run.once('released', release)
    if (this.#maxActive === 0 || this.#active < this.#maxActive) {
      this.#active++
      return 0
    }
    this.#queue.push(run)
    return this.#queue.length
  }
}

/** What AddressCounts needs of a socket: its 'close'. */
interface Closable {
  on (event: 'close', listener: () => void): unknown
  removeListener (event: 'close', listener: () => void): unknown
}

/**
 * Connection slots by client address (request.ip: honours Fastify's
 * trustProxy). A slot is taken when an upgrade request passes the check,
 * before authenticate() and the upgrade, and given back once: when its TCP
 * socket closes before it became a connection, or when the connection
 * that adopted it closes. Concurrent upgrades cannot all pass a check that
 * counts only the sockets already open. One 'close' listener shared by
 * every socket and one map entry per socket: no closure per connection.
 */
export class AddressCounts {
  readonly #counts = new Map<string, number>()
  /** The address each socket holding a slot counts for ('' when only the total is counted). */
  readonly #held = new Map<Closable, string>()
  #total = 0
  readonly #onClose: () => void

  constructor () {
    const counts = this
    this.#onClose = function (this: Closable) { counts.release(this) }
  }

  get total (): number { return this.#total }
  count (ip: string): number { return this.#counts.get(ip) ?? 0 }

  /**
   * Takes a slot until the socket closes (or release() is called); counted
   * for `ip` too unless it is undefined (no per-address limit: the address
   * is not even looked up).
   */
  take (ip: string | undefined, socket: Closable | undefined): void {
    // An injected request (light-my-request, injectWS) has no socket to hold.
    if (socket === undefined || this.#held.has(socket)) return
    if (ip !== undefined) this.#counts.set(ip, this.count(ip) + 1)
    this.#total++
    this.#held.set(socket, ip ?? '')
    socket.on('close', this.#onClose)
  }

  /** The socket became a connection, which calls release() when it closes: the socket's own listener goes. */
  adopt (socket: Closable | undefined): void {
    if (socket !== undefined && this.#held.has(socket)) socket.removeListener('close', this.#onClose)
  }

  /** Gives the socket's slot back (once; nothing when it holds none). */
  release (socket: Closable | undefined): void {
    if (socket === undefined) return
    const ip = this.#held.get(socket)
    if (ip === undefined) return
    this.#held.delete(socket)
    socket.removeListener('close', this.#onClose)
    this.#total--
    if (ip === '') return
    const n = this.count(ip) - 1
    if (n <= 0) this.#counts.delete(ip)
    else this.#counts.set(ip, n)
  }
}
