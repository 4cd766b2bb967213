import type { ClientFrame, RunFrame, RunSummary, ServerFrame, StartFrame, ThreadDeletedFrame, ThreadInfoFrame } from '../schemas/frames.js'
import { Emitter } from './emitter.js'
import { AutogenStreamError, errorOfFrame } from './errors.js'
import { ClientRun, kAttached, kFail, kFrame, kRefused, kSocket, type RunHost } from './run.js'
import { loadRuns, savedRun, saveRuns, type SavedRun, type StorageLike } from './storage.js'

/*
 * The connection side of the client: one WebSocket at a time, opened when
 * something needs it (a run to read, a list to answer), reopened with
 * exponential backoff and jitter while runs are read, and on each open every
 * run put back on it (start, or attach after its last seq: run.ts).
 *
 *   idle ─► connecting ─► open ─┬─ close, runs to read ─► reconnecting ─► connecting …
 *                               ├─ close, nothing to read ─► idle
 *                               └─ close() / refused / retries spent ─► closed
 */

/** The platform WebSocket's constructor (browsers, Node ≥ 22) or the `ws` package's: both fit as they are, no cast needed. */
export type WebSocketConstructor = new (url: string, protocols: string[], options: { headers: Record<string, string> }) => object
/** How the client calls it: browsers' takes no third argument (and has no headers to set). */
type OpenSocket = new (url: string, protocols: string[], options?: { headers: Record<string, string> }) => WebSocketLike

/** The part of the WebSocket API the client uses (browsers' and `ws`'s alike). */
export interface WebSocketLike {
  readonly readyState: number
  readonly protocol: string
  onopen: ((event: unknown) => void) | null
  onmessage: ((event: { data: unknown }) => void) | null
  onclose: ((event: { code: number, reason: string }) => void) | null
  onerror: ((event: unknown) => void) | null
  send: (data: string) => void
  close: (code?: number, reason?: string) => void
}

export type ConnectionState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed'

export interface StateChange {
  state: ConnectionState
  /** The close code and reason of the socket that just closed (reconnecting, idle, closed). */
  code?: number
  reason?: string
  /** While reconnecting: which attempt comes next (1-based), and in how many ms. */
  attempt?: number
  delay?: number
  /** When closed for good: why. */
  error?: AutogenStreamError
}

export interface ReconnectOptions {
  /** Attempts in a row before giving up (default 20; `Infinity` never gives up). */
  retries?: number
  /** The first delay, doubled at each failed attempt (default 250 ms) … */
  minDelay?: number
  /** … up to this (default 10000 ms). */
  maxDelay?: number
  /** Each delay is shortened by a random part of up to this fraction (default 0.5), so that clients cut at once do not come back at once. */
  jitter?: number
}

export interface ClientOptions {
  /**
   * ws:// or wss:// URL of the plugin's route; or several, the routes of
   * gateways that share their runs (redisRuns): each reconnect attempt
   * goes to the next one, so a client whose gateway died resumes on another.
   */
  url: string | string[]
  /** Subprotocols to offer (default `['autogen-stream.v2']`; the client speaks v2). */
  protocols?: string[]
  /** A bearer token (or a function giving one at each connect), offered as the subprotocol entry `token.<token>`: the way browsers can send one. */
  token?: string | (() => string | Promise<string>)
  /** Headers for the upgrade request: Node's `ws` only (browsers cannot set them). */
  headers?: Record<string, string> | (() => Record<string, string> | Promise<Record<string, string>>)
  /** A WebSocket implementation: default the global one (browsers, Node ≥ 22); pass `ws`'s on older Node. */
  WebSocket?: WebSocketConstructor
  /** Reconnection; `false`: never reconnect. */
  reconnect?: ReconnectOptions | false
  /** How long an upgrade may take before the attempt counts as failed (default 10000 ms). */
  connectTimeout?: number
  /** Where to keep runs' ids and resume tokens so that a page reload can `restore()` them: `sessionStorage`, say. Default: memory only. */
  storage?: StorageLike | false
  /** The storage key (default `autogen-stream:` + url). */
  storageKey?: string
}

export interface ClientEvents {
  state: [StateChange]
  /** An `error` frame about no run of this client (a rate limit, say), or a failed connection attempt. */
  error: [AutogenStreamError]
  /** Every frame from the server, parsed, before it is handled. */
  frame: [ServerFrame]
}

export interface StartOptions {
  /** Default: a random id. */
  runId?: string
  /** Handed to the server's runner (the Python bridge passes them to the factory). */
  options?: StartFrame['options']
  /** The thread the run continues (protocol v2; see docs/protocol.md, Threads): its team starts from the state the thread's last run saved. */
  threadId?: string
}

const OPEN = 1
/** Close codes after which a retry would be refused again (protocol error, binary frame, policy, too large). */
const FATAL_CLOSES = new Set([1002, 1003, 1008, 1009])
/** HTTP answers to the upgrade that a retry will not change. */
const FATAL_STATUS: Record<number, string> = { 400: 'AGS_UNSUPPORTED_PROTOCOL', 401: 'AGS_UNAUTHENTICATED', 403: 'AGS_FORBIDDEN', 404: 'AGS_UPGRADE_REFUSED' }

/** Every option of createClient: anything else is a typo, refused. */
export const CLIENT_OPTIONS = ['url', 'protocols', 'token', 'headers', 'WebSocket', 'reconnect', 'connectTimeout', 'storage', 'storageKey'] as const
const RECONNECT_OPTIONS = ['retries', 'minDelay', 'maxDelay', 'jitter']

function checkOptions (options: ClientOptions): void {
  if (typeof options !== 'object' || options === null) throw new TypeError('createClient: options must be an object with a url')
  const unknown = Object.keys(options).filter((k) => !(CLIENT_OPTIONS as readonly string[]).includes(k))
  if (unknown.length > 0) throw new TypeError(`createClient: unknown option ${unknown.map((k) => JSON.stringify(k)).join(', ')}; known: ${CLIENT_OPTIONS.join(', ')}`)
  const urls = Array.isArray(options.url) ? options.url : [options.url]
  if (urls.length === 0 || !urls.every((u) => typeof u === 'string' && /^wss?:\/\//.test(u))) throw new TypeError('createClient: url must be a ws:// or wss:// URL, or a non-empty list of them')
  const reconnect = options.reconnect
  if (reconnect !== undefined && reconnect !== false) {
    if (typeof reconnect !== 'object' || reconnect === null) throw new TypeError('createClient: reconnect must be false or { retries, minDelay, maxDelay, jitter }')
    for (const [key, value] of Object.entries(reconnect)) {
      if (!RECONNECT_OPTIONS.includes(key)) throw new TypeError(`createClient: unknown reconnect option ${JSON.stringify(key)}; known: ${RECONNECT_OPTIONS.join(', ')}`)
      const ok = typeof value === 'number' && value >= 0 && (key === 'jitter' ? value <= 1 : key === 'retries' || Number.isFinite(value))
      if (!ok) throw new TypeError(`createClient: reconnect.${key} must be ${key === 'jitter' ? 'a number from 0 to 1' : 'a number ≥ 0'} (got ${String(value)})`)
    }
  }
}

export function createClient (options: ClientOptions): Client {
  return new Client(options)
}

export class Client extends Emitter<ClientEvents> {
  state: ConnectionState = 'idle'
  readonly #urls: string[]
  /** Which of #urls the next socket opens. */
  #urlIndex = 0
  readonly #options: ClientOptions
  readonly #WebSocket: OpenSocket
  readonly #reconnect: Required<ReconnectOptions> | false
  readonly #storageKey: string
  readonly #runs = new Map<string, ClientRun>()
  /** What storage holds: runs a reloaded page can resume (kept across client failures, dropped when they end). */
  readonly #saved = new Map<string, SavedRun>()
  readonly #lists: Array<{ resolve: (runs: RunSummary[]) => void, reject: (err: AutogenStreamError) => void }> = []
  #listsSent = 0
  /** Thread questions (`thread`, `delete_thread`) not answered yet, in the order asked; `sent` on the current socket. */
  readonly #threadAsks: ThreadAsk[] = []
  #ws: WebSocketLike | undefined
  /** Counts sockets, so that a late event of an old one is ignored. */
  #generation = 0
  #attempt = 0
  #timer: ReturnType<typeof setTimeout> | undefined
  /** Set by an error frame or a failed upgrade just before a close: why the socket closed. */
  #fatal: AutogenStreamError | undefined
  #lastError: string | undefined
  readonly #host: RunHost

  constructor (options: ClientOptions) {
    super()
    checkOptions(options)
    this.#urls = Array.isArray(options.url) ? [...options.url] : [options.url]
    this.#options = options
    const WS = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket
    if (WS === undefined) {
      throw new AutogenStreamError('AGS_NO_WEBSOCKET', 'No WebSocket implementation: pass { WebSocket } (e.g. import { WebSocket } from \'ws\') on Node < 22')
    }
    this.#WebSocket = WS as unknown as OpenSocket
    this.#reconnect = options.reconnect === false
      ? false
      : { retries: 20, minDelay: 250, maxDelay: 10000, jitter: 0.5, ...options.reconnect }
    this.#storageKey = options.storageKey ?? `autogen-stream:${this.#urls.join(' ')}`
    if (options.storage !== undefined && options.storage !== false) {
      for (const saved of loadRuns(options.storage, this.#storageKey)) this.#saved.set(saved.runId, saved)
    }
    this.#host = {
      send: (frame) => this.#send(frame),
      changed: (run) => {
        if (run.ended && this.#runs.get(run.runId) === run) this.#runs.delete(run.runId)
        this.#save(run)
      }
    }
  }

  /** The runs this client reads, by runId. */
  get runs (): ReadonlyMap<string, ClientRun> {
    return this.#runs
  }

  /** Starts a run. The returned run streams as frames arrive; it survives reconnects. Throws AGS_CLIENT_CLOSED on a closed client. */
  start (task: StartFrame['task'], options: StartOptions = {}): ClientRun {
    if (this.state === 'closed') throw this.#closedError()
    const runId = options.runId ?? randomId()
    if (this.#runs.has(runId)) throw new AutogenStreamError('AGS_DUPLICATE_RUN_ID', `This client already reads a run "${runId}"`, { runId })
    const run = new ClientRun(this.#host, runId, { task, ...(options.options === undefined ? {} : { options: options.options }), ...(options.threadId === undefined ? {} : { threadId: options.threadId }) })
    this.#add(run)
    return run
  }

  /**
   * Answers the question a thread's run was interrupted at (its
   * `interrupted` frame, run.interrupted): starts a run of the thread that
   * goes on from there with `content` as the human's reply. A requestId
   * the thread no longer waits for makes the run's `result` reject with
   * AGS_UNKNOWN_REQUEST. `options`: the run's runId and runner options,
   * as for start().
   */
  answer (threadId: string, requestId: string, content: string, options: Omit<StartOptions, 'threadId'> = {}): ClientRun {
    if (this.state === 'closed') throw this.#closedError()
    const runId = options.runId ?? randomId()
    if (this.#runs.has(runId)) throw new AutogenStreamError('AGS_DUPLICATE_RUN_ID', `This client already reads a run "${runId}"`, { runId })
    const run = new ClientRun(this.#host, runId, { answer: { requestId, content }, threadId, ...(options.options === undefined ? {} : { options: options.options }) })
    this.#add(run)
    return run
  }

  /** Reads a run from after seq `after` (default -1: everything the server keeps). `resumeToken` is needed when this connection's identity does not own it. */
  attach (runId: string, options: { after?: number, resumeToken?: string } = {}): ClientRun {
    if (this.state === 'closed') throw this.#closedError()
    const known = this.#runs.get(runId)
    if (known !== undefined) return known
    const run = new ClientRun(this.#host, runId, { resumeToken: options.resumeToken, after: options.after ?? -1 })
    this.#add(run)
    return run
  }

  /** The runs of the saved storage (a page reload), attached again from their start: their messages are rebuilt. */
  restore (): ClientRun[] {
    if (this.#options.storage === undefined || this.#options.storage === false) return []
    const restored: ClientRun[] = []
    for (const saved of [...this.#saved.values()]) {
      if (this.#runs.has(saved.runId)) continue
      const run = this.attach(saved.runId, { after: -1, resumeToken: saved.resumeToken })
      if (saved.task !== undefined) run.task = saved.task
      restored.push(run)
    }
    return restored
  }

  /** The runs this connection's identity owns on the server (anonymous: the ones this connection started). */
  async list (): Promise<RunSummary[]> {
    if (this.state === 'closed') throw this.#closedError()
    return await new Promise((resolve, reject) => {
      this.#lists.push({ resolve, reject })
      if (this.#ws?.readyState === OPEN) this.#sendLists()
      else this.#ensure()
    })
  }

  /** A thread of this connection's identity: its runs, token usage and state size (docs/protocol.md, Threads). Rejects with AGS_UNKNOWN_THREAD for one that does not exist or is another identity's. */
  async thread (threadId: string): Promise<ThreadInfoFrame> {
    return await this.#askThread('thread', threadId) as ThreadInfoFrame
  }

  /** Forgets a thread of this connection's identity (AGS_THREAD_BUSY while a run of it is active). */
  async deleteThread (threadId: string): Promise<void> {
    await this.#askThread('delete_thread', threadId)
  }

  async #askThread (type: ThreadAsk['type'], threadId: string): Promise<ThreadInfoFrame | ThreadDeletedFrame> {
    if (this.state === 'closed') throw this.#closedError()
    return await new Promise((resolve, reject) => {
      this.#threadAsks.push({ type, threadId, resolve, reject, sent: false })
      if (this.#ws?.readyState === OPEN) this.#sendThreadAsks()
      else this.#ensure()
    })
  }

  #sendThreadAsks (): void {
    for (const ask of this.#threadAsks) {
      if (ask.sent) continue
      if (!this.#send({ type: ask.type, threadId: ask.threadId })) return
      ask.sent = true
    }
  }

  /** The oldest question of this type about this thread, answered now. */
  #answerThread (type: ThreadAsk['type'], threadId: string | undefined): ThreadAsk | undefined {
    const i = this.#threadAsks.findIndex((a) => a.sent && a.type === type && a.threadId === threadId)
    return i === -1 ? undefined : this.#threadAsks.splice(i, 1)[0]
  }

  /** Opens the connection now rather than when first needed. */
  connect (): void {
    if (this.state === 'closed') return
    this.#ensure()
  }

  /** Closes for good: runs stop being read (they go on on the server, and can be attached by another client). */
  close (): void {
    if (this.state === 'closed') return
    clearTimeout(this.#timer)
    this.#generation++
    const ws = this.#ws
    this.#ws = undefined
    const err = new AutogenStreamError('AGS_CLIENT_CLOSED', 'The client was closed')
    this.#setState({ state: 'closed', code: 1000, reason: 'client closed', error: err })
    this.#failAll(err)
    if (ws !== undefined) detach(ws)
    ws?.close(1000, 'client closed')
  }

  #add (run: ClientRun): void {
    this.#runs.set(run.runId, run)
    if (this.#ws?.readyState === OPEN) run[kSocket]()
    else this.#ensure()
  }

  #closedError (): AutogenStreamError {
    return new AutogenStreamError('AGS_CLIENT_CLOSED', 'The client is closed')
  }

  #send (frame: ClientFrame): boolean {
    const ws = this.#ws
    if (ws === undefined || ws.readyState !== OPEN) return false
    ws.send(JSON.stringify(frame))
    return true
  }

  #sendLists (): void {
    while (this.#listsSent < this.#lists.length && this.#send({ type: 'list' })) this.#listsSent++
  }

  /** Opens a socket unless one is open, opening, or waiting to reopen. */
  #ensure (): void {
    if (this.#ws !== undefined || this.#timer !== undefined || this.state === 'closed') return
    this.#open().catch((err: unknown) => this.#giveUp(new AutogenStreamError('AGS_CONNECTION_LOST', `Could not connect: ${String(err)}`, { cause: err })))
  }

  async #open (): Promise<void> {
    const generation = ++this.#generation
    this.#setState({ state: 'connecting' })
    const protocols = [...(this.#options.protocols ?? ['autogen-stream.v2'])]
    const token = typeof this.#options.token === 'function' ? await this.#options.token() : this.#options.token
    if (token !== undefined && token !== '') protocols.push(`token.${token}`)
    const headers = typeof this.#options.headers === 'function' ? await this.#options.headers() : this.#options.headers
    if (generation !== this.#generation) return
    this.#fatal = undefined
    this.#lastError = undefined
    const url = this.#urls[this.#urlIndex % this.#urls.length] as string
    const ws = headers === undefined ? new this.#WebSocket(url, protocols) : new this.#WebSocket(url, protocols, { headers })
    this.#ws = ws
    const timeout = setTimeout(() => { if (ws.readyState !== OPEN) ws.close() }, this.#options.connectTimeout ?? 10000)
    ws.onopen = () => {
      clearTimeout(timeout)
      if (generation !== this.#generation) return
      this.#setState({ state: 'open' })
      this.#listsSent = 0
      for (const ask of this.#threadAsks) ask.sent = false
      for (const run of [...this.#runs.values()]) run[kSocket]()
      this.#sendLists()
      this.#sendThreadAsks()
    }
    ws.onmessage = (event) => {
      if (generation === this.#generation) this.#receive(event.data)
    }
    ws.onerror = (event) => {
      const message = (event as { message?: unknown })?.message
      if (typeof message === 'string') this.#lastError = message
    }
    ws.onclose = (event) => {
      clearTimeout(timeout)
      if (generation !== this.#generation) return
      this.#ws = undefined
      detach(ws)
      this.#closed(event.code, event.reason)
    }
  }

  #receive (data: unknown): void {
    let frame: ServerFrame
    try {
      frame = JSON.parse(String(data)) as ServerFrame
    } catch {
      this.emit('error', new AutogenStreamError('AGS_BAD_JSON', 'The server sent a frame that is not JSON'))
      return
    }
    if (typeof frame !== 'object' || frame === null || typeof frame.type !== 'string') return
    // The server answered: the connection works, so the next loss starts a fresh backoff.
    this.#attempt = 0
    this.emit('frame', frame)
    const runId = (frame as { runId?: unknown }).runId
    if ('seq' in frame && typeof runId === 'string') {
      this.#runs.get(runId)?.[kFrame](frame as RunFrame)
      return
    }
    switch (frame.type) {
      case 'attached':
        this.#runs.get(frame.runId)?.[kAttached](frame)
        return
      case 'detached':
        // Lagging: read on from where the server stopped (our own detach already forgot the run).
        if (frame.reason === 'lagging') this.#runs.get(frame.runId)?.[kSocket]()
        return
      case 'thread':
        this.#answerThread('thread', frame.threadId)?.resolve(frame)
        return
      case 'thread_deleted':
        this.#answerThread('delete_thread', frame.threadId)?.resolve(frame)
        return
      case 'runs': {
        const list = this.#lists.shift()
        if (list !== undefined) {
          this.#listsSent--
          list.resolve(Array.isArray(frame.runs) ? frame.runs : [])
        }
        return
      }
      case 'error': {
        const err = errorOfFrame(frame)
        const ref = 'ref' in frame ? frame.ref : undefined
        const run = ref?.runId === undefined ? undefined : this.#runs.get(ref.runId)
        if (run !== undefined) return run[kRefused](err, ref?.type)
        if (ref?.type === 'thread' || ref?.type === 'delete_thread') {
          const ask = this.#answerThread(ref.type, ref.threadId)
          if (ask !== undefined) return ask.reject(err)
        }
        if (ref?.type === 'list' && this.#lists.length > 0) {
          this.#listsSent--
          this.#lists.shift()?.reject(err)
          return
        }
        this.emit('error', err)
      }
    }
  }

  #closed (code: number, reason: string): void {
    const status = /Unexpected server response: (\d+)/.exec(this.#lastError ?? '')?.[1]
    const statusCode = status === undefined ? undefined : Number(status)
    if (statusCode !== undefined && FATAL_STATUS[statusCode] !== undefined) {
      this.#fatal = new AutogenStreamError(FATAL_STATUS[statusCode] as string, `The server refused the upgrade with HTTP ${statusCode}`, { closeCode: code })
    } else if (FATAL_CLOSES.has(code)) {
      this.#fatal = new AutogenStreamError('AGS_CONNECTION_REFUSED', `The server closed the connection: ${code} ${reason}`, { closeCode: code })
    }
    if (this.#fatal !== undefined) return this.#giveUp(this.#fatal, code, reason)
    if (this.#runs.size === 0 && this.#lists.length === 0 && this.#threadAsks.length === 0) {
      this.#setState({ state: 'idle', code, reason })
      return
    }
    const policy = this.#reconnect
    if (policy === false || this.#attempt >= policy.retries) {
      return this.#giveUp(new AutogenStreamError('AGS_CONNECTION_LOST', `The connection closed (${code}${reason === '' ? '' : ` ${reason}`})${policy === false ? '' : ` and ${policy.retries} attempts to reconnect failed`}`, { closeCode: code }), code, reason)
    }
    // The next attempt goes to the next gateway (with one, the same).
    this.#urlIndex = (this.#urlIndex + 1) % this.#urls.length
    const base = Math.min(policy.maxDelay, policy.minDelay * 2 ** this.#attempt)
    const delay = Math.round(base * (1 - policy.jitter * Math.random()))
    this.#attempt++
    this.#setState({ state: 'reconnecting', code, reason, attempt: this.#attempt, delay })
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      this.#ensure()
    }, delay)
  }

  #giveUp (err: AutogenStreamError, code?: number, reason?: string): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#ws = undefined
    const change: StateChange = { state: 'closed', error: err }
    if (code !== undefined) change.code = code
    if (reason !== undefined) change.reason = reason
    this.#setState(change)
    this.emit('error', err)
    this.#failAll(err)
  }

  #failAll (err: AutogenStreamError): void {
    for (const run of [...this.#runs.values()]) run[kFail](err)
    this.#runs.clear()
    for (const list of this.#lists.splice(0)) list.reject(err)
    this.#listsSent = 0
    for (const ask of this.#threadAsks.splice(0)) ask.reject(err)
  }

  #setState (change: StateChange): void {
    this.state = change.state
    this.emit('state', change)
  }

  #save (run: ClientRun): void {
    const storage = this.#options.storage
    if (storage === undefined || storage === false) return
    const saved = savedRun(run)
    if (saved === undefined) {
      if (!this.#saved.delete(run.runId)) return
    } else {
      this.#saved.delete(run.runId) // re-inserted last: the newest is kept when there are too many
      this.#saved.set(run.runId, saved)
    }
    saveRuns(storage, this.#storageKey, [...this.#saved.values()])
  }
}

function detach (ws: WebSocketLike): void {
  ws.onopen = null
  ws.onmessage = null
  ws.onclose = null
  ws.onerror = null
}

/** A random run id: 128 bits from the platform's crypto (browsers, Node ≥ 19). */
function randomId (): string {
  const bytes = new Uint8Array(16)
  globalThis.crypto.getRandomValues(bytes)
  let id = 'run-'
  for (const byte of bytes) id += byte.toString(16).padStart(2, '0')
  return id
}

interface ThreadAsk {
  type: 'thread' | 'delete_thread'
  threadId: string
  resolve: (answer: ThreadInfoFrame | ThreadDeletedFrame) => void
  reject: (err: AutogenStreamError) => void
  sent: boolean
}
