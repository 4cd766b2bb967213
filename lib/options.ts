import type { WebsocketPluginOptions } from '@fastify/websocket'
import type { FastifyRequest } from 'fastify'
import { withAuthorization, type Authenticate, type AuthorizeRun } from './auth.js'
import { InvalidOptionError } from './errors.js'
import { toRunnerObject, type Runner, type RunnerObject } from './runner.js'
import type { RunsFactory } from './directory.js'
import { isRegistry, type MetricsRegistry } from './observe.js'

/**
 * The plugin's options. Exactly one of `runner` and `runs` is required: a
 * registration without either, or with both, fails with AGS_INVALID_OPTION.
 * (Both are optional in the type: a union would make a wrong runner's type
 * error read "not assignable to undefined".)
 */
export interface AutogenStreamOptions extends AutogenStreamSettings {
  /** Where runs come from, in this process: a function yielding AutoGen events, or `{ run, close? }` (pythonRunner: its worker pool). */
  runner?: Runner
  /** Runs held outside this server: `redisRuns({ url })`, worker hosts behind Redis Streams (docs/redis.md). Instead of `runner`. */
  runs?: RunsFactory
}

/** Every option but `runner` and `runs`. */
export interface AutogenStreamSettings {
  /** WebSocket route. Default '/autogen'. */
  path?: string
  /** Events pulled ahead of the socket per run (the run's queue). Default 64. */
  highWaterMark?: number
  /** Bytes the socket may hold unsent before the sender waits for 'drain'. Default 64 KiB. */
  maxBufferedBytes?: number
  /** Concurrent runs on one connection. Default 4. */
  maxRunsPerConnection?: number
  /** Open connections on the server; more get HTTP 503 before the upgrade. 0: no limit. Default 10000. */
  maxConnections?: number
  /** Open connections from one client address (request.ip: set Fastify's trustProxy behind a proxy); more get HTTP 429. 0: no limit. Default 256. */
  maxConnectionsPerIp?: number
  /** Client frames a connection may send per second on average; more get AGS_RATE_LIMITED (and count toward maxBadFrames). 0: no limit. Default 100. */
  frameRate?: number
  /** Client frames a connection may send at once (the bucket's size). Default 200. */
  frameBurst?: number
  /** Runs running at once on the server; more wait in a queue (a `queued` frame). 0: no limit. Default 256. */
  maxActiveRuns?: number
  /** Runs that may wait for a slot; beyond, a start gets AGS_BUSY. Default 1024. */
  maxQueuedRuns?: number
  /** Active runs of one identity, over all its connections. 0: no limit. Default 16. */
  maxRunsPerIdentity?: number
  /** Largest `task` of a start frame, in bytes of JSON. Default 65536. */
  maxTaskBytes?: number
  /** Largest client frame in bytes; larger closes with 1009. Default 64 KiB. */
  maxPayload?: number
  /** Invalid client frames a connection may send before it is closed with 1008. Default 32. */
  maxBadFrames?: number
  /** Deepest nesting of arrays and objects in a frame's `task` and `options`; deeper frames get AGS_BAD_FRAME before they are parsed. Default 32, at most 256. */
  maxFrameDepth?: number
  /** Milliseconds a connection may stay over maxBufferedBytes before its runs are cancelled and it is closed with 4008. 0: never. Default 30000. */
  stallTimeout?: number
  /** Milliseconds between server pings; a peer that misses two pongs is terminated. 0: no heartbeat. Default 30000. */
  pingInterval?: number
  /** Milliseconds a connection may have no active run before it is closed with 1000. 0: never. Default 0. */
  idleTimeout?: number
  /** Milliseconds a run may last before it ends with AGS_RUN_TIMEOUT. 0: no limit. Default 0. */
  runTimeout?: number
  /** Milliseconds a runner's requestInput() waits for the client. 0: no limit. Default 300000. */
  inputTimeout?: number
  /**
   * Milliseconds a thread's run may wait for human input before it is
   * interrupted: it ends with an `interrupted` frame, its state kept, and
   * frees what ran it (a Python worker); the answer, sent later as a
   * `start` with `answer`, continues it. Only for runners that can
   * (`interrupts: true`, as pythonRunner) and with redisRuns (sent in
   * each thread run's request: its worker host holds it), and only runs
   * of a thread.
   * Infinity: never (the run waits up to inputTimeout). Default 5000.
   */
  holdInputFor?: number
  /**
   * Milliseconds a thread run's terminal frame waits, once the run is over
   * (its result, a cancel, a timeout, an interrupt), for its runner to
   * finish and hand over the state; past it the frame goes out without
   * (stateError AGS_THREAD_STATE_FAILED) and the thread keeps its previous
   * state. Default 10000 (the Python bridge gives a cancelled run 5 s).
   */
  threadStateTimeout?: number
  /** Milliseconds a closing connection gets to finish the close handshake before it is destroyed. Default 1000. */
  closeGrace?: number
  /** Merge consecutive waiting chunks of one message into one `token` frame. Default true. */
  coalesceTokens?: boolean
  /** Longest text of one coalesced `token` frame, in UTF-16 code units. Default 16384. */
  maxTokenFrameChars?: number
  /** Options for @fastify/websocket when this plugin registers it (it does unless the app already has it). */
  websocket?: WebsocketPluginOptions
  /**
   * Which browser pages may open the socket (their `Origin` header): exact
   * origins ('https://app.example.com'), or a function. Default: only the
   * origin the request was sent to (same Host); requests without Origin
   * (non-browser clients) are let through. Stops cross-site WebSocket
   * hijacking: another site's page opening the socket with the user's cookies.
   */
  allowedOrigins?: string[] | ((origin: string, request: FastifyRequest) => boolean)
  /**
   * Who may connect: called before the upgrade with the request; returns the
   * identity (`{ id, ... }`, JSON-serialisable) that runners and Python
   * factories get. Nothing returned, or an error thrown: HTTP 401
   * AGS_UNAUTHENTICATED; an error with statusCode 403: HTTP 403 AGS_FORBIDDEN.
   * Without it, every connection is anonymous (`{ id: 'anonymous:<uuid>', anonymous: true }`).
   */
  authenticate?: Authenticate
  /**
   * Asked at the start of every run with its identity and what the client
   * sent: return nothing to allow it, `{ task?, options? }` to replace those,
   * or throw to refuse it (a RunError's code and message reach the client;
   * anything else is AGS_RUN_REFUSED).
   */
  authorizeRun?: AuthorizeRun
  /**
   * What happens to a run when its last connection closes: 'continue' (it
   * goes on, up to maxRunLag, for a client to attach again; cancelled with
   * reason `abandoned` after detachTimeout) or 'cancel' (cancelled at once,
   * reason `disconnect`). Runs started on v1 connections are cancelled
   * either way: v1 clients cannot attach. Default 'continue'.
   */
  onDisconnect?: 'continue' | 'cancel'
  /** Milliseconds a run may go on with no connection attached before it is cancelled (`abandoned`). 0: never. Default 60000. */
  detachTimeout?: number
  /**
   * How far the slowest reader of a run (or, with none attached, the
   * furthest one that left) may fall behind its log before AutoGen is no
   * longer pulled: entries and bytes (one entry may go over). Default
   * { events: 64, bytes: 64 KiB }.
   */
  maxRunLag?: { events?: number, bytes?: number }
  /** Entries already read that a run's log keeps for a resume that goes back (what was in flight when a connection dropped). Default 256. */
  retainEvents?: number
  /** Bytes of entries already read that a run's log keeps for a resume. Default 256 KiB. */
  retainBytes?: number
  /** Milliseconds an ended run's log and result are kept for attach. Default 60000. */
  retainAfterEnd?: number
  /** Connections that may read one run at once. Default 8. */
  maxWatchersPerRun?: number
  /** Largest saved state of a thread (its JSON, in bytes); a larger one is not saved (AGS_THREAD_STATE_TOO_LARGE in the run's terminal frame). Default 1 MiB. */
  maxThreadStateBytes?: number
  /** Milliseconds a thread with no active run is kept after its last run; then it and its state are forgotten. Default 86400000 (24 h). */
  threadRetention?: number
  /** Threads one identity may keep; a new one beyond makes room by forgetting its least recently used thread with no active run (AGS_TOO_MANY_THREADS when every one has). Default 100. */
  maxThreadsPerIdentity?: number
  /**
   * The app's prom-client `Registry`: the plugin registers its metrics there
   * (docs/metrics.md), and passes it to a runner with a `metrics` hook
   * (pythonRunner: worker processes, restarts, credit stalls). prom-client
   * is loaded only when this is given. Default: no metrics.
   */
  metrics?: MetricsRegistry
  /**
   * A span `autogen_stream.run` per run through @opentelemetry/api, when it
   * is installed (a no-op until the app registers an SDK), under the upgrade
   * request's span (@fastify/otel's). false: no spans, the API is not loaded. Default true.
   */
  tracing?: boolean
  /**
   * An AG-UI endpoint beside the WebSocket route (docs/ag-ui.md): `POST
   * path` with a RunAgentInput answers with the run as Server-Sent Events,
   * `GET path/runs/:runId` resumes it, `DELETE` cancels it. `true`: with
   * the defaults. Default: none.
   */
  agUi?: AgUiOptions | boolean
}

/** The `agUi` option (docs/ag-ui.md, Options). */
export interface AgUiOptions {
  /** The AG-UI route. Default '/ag-ui'. */
  path?: string
  /**
   * What a run does when its stream is cut before it ended: 'cancel' (AG-UI's
   * HttpAgent cannot resume, and abortRun() is how it cancels) or 'continue'
   * (it goes on detached, like onDisconnect 'continue', for a GET to resume).
   * Default 'cancel'.
   */
  onDisconnect?: 'cancel' | 'continue'
  /** Largest request body in bytes (a RunAgentInput carries the whole conversation the client keeps). Default 1 MiB. */
  bodyLimit?: number
}

export interface Config {
  /** Undefined when `runs` holds the runs elsewhere. */
  runner: RunnerObject | undefined
  runs: RunsFactory | undefined
  authorizeRun: AuthorizeRun | undefined
  path: string
  highWaterMark: number
  maxBufferedBytes: number
  maxRunsPerConnection: number
  maxConnections: number
  maxConnectionsPerIp: number
  frameRate: number
  frameBurst: number
  maxActiveRuns: number
  maxQueuedRuns: number
  maxRunsPerIdentity: number
  maxTaskBytes: number
  maxPayload: number
  maxBadFrames: number
  maxFrameDepth: number
  stallTimeout: number
  pingInterval: number
  idleTimeout: number
  runTimeout: number
  inputTimeout: number
  holdInputFor: number
  threadStateTimeout: number
  closeGrace: number
  coalesceTokens: boolean
  maxTokenFrameChars: number
  websocket: WebsocketPluginOptions
  allowedOrigins: string[] | ((origin: string, request: FastifyRequest) => boolean) | undefined
  authenticate: Authenticate | undefined
  onDisconnect: 'continue' | 'cancel'
  detachTimeout: number
  maxRunLag: { events: number, bytes: number }
  retainEvents: number
  retainBytes: number
  retainAfterEnd: number
  maxWatchersPerRun: number
  maxThreadStateBytes: number
  threadRetention: number
  maxThreadsPerIdentity: number
  metrics: MetricsRegistry | undefined
  tracing: boolean
  /** Undefined: no AG-UI endpoint. */
  agUi: Required<AgUiOptions> | undefined
}

function show (value: unknown): string {
  if (typeof value === 'function') return 'a function'
  // JSON would write null.
  if (typeof value === 'number' && !Number.isFinite(value)) return String(value)
  try {
    return JSON.stringify(value) ?? String(value)
  } catch {
    return String(value)
  }
}

/** An integer option from min to max, or the fallback when absent; `label` names it in the error. */
export function integerOption (value: unknown, label: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidOptionError(label, `expected an integer from ${min} to ${max}`, show(value))
  }
  return value
}

function integer (opts: Record<string, unknown>, name: string, fallback: number, min: number, max?: number): number {
  return integerOption(opts[name], name, fallback, min, max)
}

// setTimeout keeps larger delays to 1 ms, so a longer limit would fire at once.
export const MAX_DELAY = 2 ** 31 - 1

/**
 * Every default, in one place: normalizeOptions() takes them from here, and
 * a test holds the README's options table to them.
 *
 * What a run holds is bounded per run, attached or not: highWaterMark
 * events in its queue, maxRunLag entries unread in its log and a tail of
 * retainEvents / retainBytes entries read (and, per connection,
 * maxBufferedBytes in the socket). The log's bounds are kept small: every
 * entry a log holds outlives several young-generation collections, so a
 * server streaming many runs fills V8's old generation with frames that
 * die there (200 runs of 60,000 tokens into clients that read nothing:
 * 343-359 MiB of peak RSS growth with a lag of 256 and a tail of 1024,
 * 179-189 MiB with these; benchmarks/profile-notes.md, item 11). The
 * tail covers a reload, or a cut while the client kept up (seconds of tokens), and the
 * socket's 64 KiB of large events; a resume from further back gets
 * AGS_RESUME_GAP, which the client shows as a gap and reads on from.
 * highWaterMark stays 64: it is also how many chunks the sender merges
 * into one frame when a runner is fast (16 cost a third of the tokens/s).
 */
export const DEFAULTS = {
  path: '/autogen',
  highWaterMark: 64,
  maxBufferedBytes: 64 * 1024,
  maxRunsPerConnection: 4,
  maxConnections: 10_000,
  maxConnectionsPerIp: 256,
  frameRate: 100,
  frameBurst: 200,
  maxActiveRuns: 256,
  maxQueuedRuns: 1024,
  maxRunsPerIdentity: 16,
  maxTaskBytes: 64 * 1024,
  maxPayload: 64 * 1024,
  maxBadFrames: 32,
  maxFrameDepth: 32,
  stallTimeout: 30_000,
  pingInterval: 30_000,
  idleTimeout: 0,
  runTimeout: 0,
  inputTimeout: 300_000,
  holdInputFor: 5000,
  threadStateTimeout: 10_000,
  closeGrace: 1000,
  coalesceTokens: true,
  maxTokenFrameChars: 16 * 1024,
  onDisconnect: 'continue',
  detachTimeout: 60_000,
  maxRunLag: { events: 64, bytes: 64 * 1024 },
  retainEvents: 256,
  retainBytes: 256 * 1024,
  retainAfterEnd: 60_000,
  maxWatchersPerRun: 8,
  maxThreadStateBytes: 1024 * 1024,
  threadRetention: 24 * 60 * 60 * 1000,
  maxThreadsPerIdentity: 100,
  tracing: true
} as const

// Every option, checked by the compiler against AutogenStreamOptions: a name
// missing here or added there fails the build.
export const OPTION_NAMES: Record<keyof AutogenStreamOptions, true> = {
  runner: true,
  runs: true,
  path: true,
  highWaterMark: true,
  maxBufferedBytes: true,
  maxRunsPerConnection: true,
  maxConnections: true,
  maxConnectionsPerIp: true,
  frameRate: true,
  frameBurst: true,
  maxActiveRuns: true,
  maxQueuedRuns: true,
  maxRunsPerIdentity: true,
  maxTaskBytes: true,
  maxPayload: true,
  maxBadFrames: true,
  maxFrameDepth: true,
  stallTimeout: true,
  pingInterval: true,
  idleTimeout: true,
  runTimeout: true,
  inputTimeout: true,
  holdInputFor: true,
  threadStateTimeout: true,
  closeGrace: true,
  coalesceTokens: true,
  maxTokenFrameChars: true,
  websocket: true,
  allowedOrigins: true,
  authenticate: true,
  authorizeRun: true,
  onDisconnect: true,
  detachTimeout: true,
  maxRunLag: true,
  retainEvents: true,
  retainBytes: true,
  retainAfterEnd: true,
  maxWatchersPerRun: true,
  maxThreadStateBytes: true,
  threadRetention: true,
  maxThreadsPerIdentity: true,
  metrics: true,
  tracing: true,
  agUi: true
}

/** The `agUi` option's defaults; a test holds docs/ag-ui.md's table to them. */
export const AG_UI_DEFAULTS = {
  path: '/ag-ui',
  onDisconnect: 'cancel',
  bodyLimit: 1024 * 1024
} as const

export const AG_UI_OPTION_NAMES: Record<keyof AgUiOptions, true> = { path: true, onDisconnect: true, bodyLimit: true }

function agUiOption (value: unknown): Config['agUi'] {
  if (value === undefined || value === false) return undefined
  const opts = value === true ? {} : value
  if (typeof opts !== 'object' || opts === null || Array.isArray(opts)) {
    throw new InvalidOptionError('agUi', 'expected true or an object { path?, onDisconnect?, bodyLimit? }', show(value))
  }
  const given = opts as Record<string, unknown>
  rejectUnknownOptions(given, Object.keys(AG_UI_OPTION_NAMES), 'agUi.')
  const path = given.path ?? AG_UI_DEFAULTS.path
  // Its own segments only: a ':' or '*' would be a route parameter, and `${path}/runs/:runId` is added to it.
  if (typeof path !== 'string' || !/^\/[A-Za-z0-9._~-]*(?:\/[A-Za-z0-9._~-]+)*$/.test(path)) {
    throw new InvalidOptionError('agUi.path', 'expected a path starting with "/" of letters, digits and . _ ~ - (no parameters, no trailing "/")', show(path))
  }
  const onDisconnect = given.onDisconnect ?? AG_UI_DEFAULTS.onDisconnect
  if (onDisconnect !== 'cancel' && onDisconnect !== 'continue') {
    throw new InvalidOptionError('agUi.onDisconnect', 'expected "cancel" or "continue"', show(onDisconnect))
  }
  return {
    path,
    onDisconnect,
    bodyLimit: integerOption(given.bodyLimit, 'agUi.bodyLimit', AG_UI_DEFAULTS.bodyLimit, 1024, 1 << 30)
  }
}
// What Fastify's register() itself takes and passes on with the plugin's options.
const REGISTER_OPTIONS = ['prefix', 'logLevel', 'logSerializers']

/**
 * Refuses option names nobody reads: a misspelt limit (or, later, a
 * misspelt `authenticate`) must fail at registration, never be ignored.
 */
export function rejectUnknownOptions (opts: Record<string, unknown>, known: readonly string[], label: string): void {
  const unknown = Object.keys(opts).filter((name) => !known.includes(name))
  if (unknown.length === 0) return
  const hint = unknown.map((name) => closest(name, known)).filter((s) => s !== undefined)
  throw new InvalidOptionError(`${label}${unknown.join(', ')}`, `unknown option${unknown.length > 1 ? 's' : ''}${hint.length > 0 ? ` (did you mean ${hint.join(', ')}?)` : ''}; known: ${known.join(', ')}`, show(unknown.map((n) => opts[n])))
}

/** A known name one or two edits away, case aside. */
function closest (name: string, known: readonly string[]): string | undefined {
  const lower = name.toLowerCase()
  return known.find((k) => k.toLowerCase() === lower || editDistance(k.toLowerCase(), lower) <= 2)
}

function editDistance (a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const row = [i]
    for (let j = 1; j <= b.length; j++) row[j] = Math.min((prev[j] as number) + 1, (row[j - 1] as number) + 1, (prev[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1))
    prev = row
  }
  return prev[b.length] as number
}

/** holdInputFor: ms, or Infinity (never), the one value beyond setTimeout's range an option takes. */
function holdOption (value: unknown): number {
  if (value === Infinity) return Infinity
  if (value === undefined) return DEFAULTS.holdInputFor
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_DELAY) {
    throw new InvalidOptionError('holdInputFor', `expected an integer from 0 to ${MAX_DELAY}, or Infinity (never interrupt)`, show(value))
  }
  return value
}

function originsOption (value: unknown): Config['allowedOrigins'] {
  if (value === undefined || typeof value === 'function') return value as Config['allowedOrigins']
  // Kept as browsers write them (lower case, no default port), so they compare with an Origin header as parsed.
  if (Array.isArray(value) && value.every((o) => typeof o === 'string' && /^[a-z][a-z0-9+.-]*:\/\/[^/]+$/i.test(o))) return value.map((o: string) => new URL(o).origin)
  throw new InvalidOptionError('allowedOrigins', 'expected a function (origin, request) => boolean or an array of origins such as "https://app.example.com" (scheme and host, no path)', show(value))
}

/** Normalizes the caller's options once, without touching the caller's object. */
export function normalizeOptions (input: AutogenStreamOptions | undefined): Config {
  const opts = (input ?? {}) as unknown as Record<string, unknown>
  rejectUnknownOptions(opts, [...Object.keys(OPTION_NAMES), ...REGISTER_OPTIONS], '')
  const runner = opts.runner
  const runs = opts.runs
  if (runs !== undefined) {
    if (runner !== undefined) throw new InvalidOptionError('runs', 'give either runner (runs in this process) or runs (runs elsewhere), not both', show(runs))
    if (typeof runs !== 'object' || runs === null || typeof (runs as RunsFactory).create !== 'function') {
      throw new InvalidOptionError('runs', 'expected what redisRuns({ url }) returns', show(runs))
    }
  } else {
    const isRunner = typeof runner === 'function' ||
      (typeof runner === 'object' && runner !== null && typeof (runner as RunnerObject).run === 'function')
    if (!isRunner) {
      throw new InvalidOptionError('runner', 'expected a function (request, context) => AsyncIterable or an object with run()', show(runner))
    }
    for (const hook of ['init', 'start', 'close', 'metrics'] as const) {
      const fn = (runner as RunnerObject)[hook]
      if (fn !== undefined && typeof fn !== 'function') {
        throw new InvalidOptionError(`runner.${hook}`, 'expected a function', show(fn))
      }
    }
  }

  const path = opts.path ?? DEFAULTS.path
  if (typeof path !== 'string' || !path.startsWith('/')) {
    throw new InvalidOptionError('path', 'expected a string starting with "/"', show(path))
  }
  const coalesceTokens = opts.coalesceTokens ?? DEFAULTS.coalesceTokens
  if (typeof coalesceTokens !== 'boolean') {
    throw new InvalidOptionError('coalesceTokens', 'expected a boolean', show(coalesceTokens))
  }
  const websocket = opts.websocket ?? {}
  if (typeof websocket !== 'object' || websocket === null || Array.isArray(websocket)) {
    throw new InvalidOptionError('websocket', 'expected an object of @fastify/websocket options', show(websocket))
  }

  for (const hook of ['authenticate', 'authorizeRun'] as const) {
    if (opts[hook] !== undefined && typeof opts[hook] !== 'function') throw new InvalidOptionError(hook, 'expected a function', show(opts[hook]))
  }
  const onDisconnect = opts.onDisconnect ?? DEFAULTS.onDisconnect
  if (onDisconnect !== 'continue' && onDisconnect !== 'cancel') {
    throw new InvalidOptionError('onDisconnect', 'expected "continue" or "cancel"', show(onDisconnect))
  }
  const lag = opts.maxRunLag ?? {}
  if (typeof lag !== 'object' || lag === null || Array.isArray(lag)) {
    throw new InvalidOptionError('maxRunLag', 'expected an object { events?, bytes? }', show(lag))
  }
  rejectUnknownOptions(lag as Record<string, unknown>, ['events', 'bytes'], 'maxRunLag.')
  const metrics = opts.metrics
  if (metrics !== undefined && !isRegistry(metrics)) {
    throw new InvalidOptionError('metrics', 'expected a prom-client Registry (new Registry(), or prom-client\'s default `register`)', show(metrics))
  }
  const tracing = opts.tracing ?? DEFAULTS.tracing
  if (typeof tracing !== 'boolean') throw new InvalidOptionError('tracing', 'expected a boolean', show(tracing))
  const runnerObject = runs === undefined ? toRunnerObject(runner as Runner) : undefined
  return {
    runner: runnerObject === undefined || opts.authorizeRun === undefined ? runnerObject : withAuthorization(runnerObject, opts.authorizeRun as AuthorizeRun),
    runs: runs as RunsFactory | undefined,
    authorizeRun: opts.authorizeRun as AuthorizeRun | undefined,
    authenticate: opts.authenticate as Authenticate | undefined,
    path,
    highWaterMark: integer(opts, 'highWaterMark', DEFAULTS.highWaterMark, 1, 1 << 20),
    maxBufferedBytes: integer(opts, 'maxBufferedBytes', DEFAULTS.maxBufferedBytes, 1024),
    maxRunsPerConnection: integer(opts, 'maxRunsPerConnection', DEFAULTS.maxRunsPerConnection, 1, 1 << 16),
    maxConnections: integer(opts, 'maxConnections', DEFAULTS.maxConnections, 0),
    maxConnectionsPerIp: integer(opts, 'maxConnectionsPerIp', DEFAULTS.maxConnectionsPerIp, 0),
    frameRate: integer(opts, 'frameRate', DEFAULTS.frameRate, 0),
    frameBurst: integer(opts, 'frameBurst', DEFAULTS.frameBurst, 1),
    maxActiveRuns: integer(opts, 'maxActiveRuns', DEFAULTS.maxActiveRuns, 0),
    maxQueuedRuns: integer(opts, 'maxQueuedRuns', DEFAULTS.maxQueuedRuns, 0),
    maxRunsPerIdentity: integer(opts, 'maxRunsPerIdentity', DEFAULTS.maxRunsPerIdentity, 0),
    maxTaskBytes: integer(opts, 'maxTaskBytes', DEFAULTS.maxTaskBytes, 1),
    maxPayload: integer(opts, 'maxPayload', DEFAULTS.maxPayload, 128, 1 << 30),
    maxBadFrames: integer(opts, 'maxBadFrames', DEFAULTS.maxBadFrames, 1),
    maxFrameDepth: integer(opts, 'maxFrameDepth', DEFAULTS.maxFrameDepth, 1, 256),
    stallTimeout: integer(opts, 'stallTimeout', DEFAULTS.stallTimeout, 0, MAX_DELAY),
    pingInterval: integer(opts, 'pingInterval', DEFAULTS.pingInterval, 0, MAX_DELAY),
    idleTimeout: integer(opts, 'idleTimeout', DEFAULTS.idleTimeout, 0, MAX_DELAY),
    runTimeout: integer(opts, 'runTimeout', DEFAULTS.runTimeout, 0, MAX_DELAY),
    inputTimeout: integer(opts, 'inputTimeout', DEFAULTS.inputTimeout, 0, MAX_DELAY),
    holdInputFor: holdOption(opts.holdInputFor),
    threadStateTimeout: integer(opts, 'threadStateTimeout', DEFAULTS.threadStateTimeout, 1, MAX_DELAY),
    closeGrace: integer(opts, 'closeGrace', DEFAULTS.closeGrace, 0, MAX_DELAY),
    coalesceTokens,
    maxTokenFrameChars: integer(opts, 'maxTokenFrameChars', DEFAULTS.maxTokenFrameChars, 1),
    websocket: { ...(websocket as WebsocketPluginOptions) },
    allowedOrigins: originsOption(opts.allowedOrigins),
    onDisconnect,
    detachTimeout: integer(opts, 'detachTimeout', DEFAULTS.detachTimeout, 0, MAX_DELAY),
    maxRunLag: {
      events: integerOption((lag as Record<string, unknown>).events, 'maxRunLag.events', DEFAULTS.maxRunLag.events, 1),
      bytes: integerOption((lag as Record<string, unknown>).bytes, 'maxRunLag.bytes', DEFAULTS.maxRunLag.bytes, 1024)
    },
    retainEvents: integer(opts, 'retainEvents', DEFAULTS.retainEvents, 0),
    retainBytes: integer(opts, 'retainBytes', DEFAULTS.retainBytes, 0),
    retainAfterEnd: integer(opts, 'retainAfterEnd', DEFAULTS.retainAfterEnd, 0, MAX_DELAY),
    maxWatchersPerRun: integer(opts, 'maxWatchersPerRun', DEFAULTS.maxWatchersPerRun, 1, 1024),
    maxThreadStateBytes: integer(opts, 'maxThreadStateBytes', DEFAULTS.maxThreadStateBytes, 2, 1 << 30),
    threadRetention: integer(opts, 'threadRetention', DEFAULTS.threadRetention, 1, MAX_DELAY),
    maxThreadsPerIdentity: integer(opts, 'maxThreadsPerIdentity', DEFAULTS.maxThreadsPerIdentity, 1, 1 << 20),
    metrics,
    tracing,
    agUi: agUiOption(opts.agUi)
  }
}
