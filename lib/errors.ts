import createError, { type FastifyErrorConstructor } from '@fastify/error'

/**
 * The one table of everything the product can send or throw, for the
 * server log and the client alike, the Python bridge's codes included (the
 * worker sends its own codes with this prefix too). `code` is stable and
 * part of the protocol (docs/protocol.md, docs/bridge.md; a test holds the
 * docs to this table). `status` is the HTTP-style class of the error: 4xx
 * when the client sent something wrong, 5xx when the server side failed.
 * `close` is the WebSocket close code used when the connection cannot go on
 * (0: the connection stays open; run errors end only their run).
 *
 * A message is formatted from the entry's template (util.format), so a
 * code never travels without its message: create the error, then use
 * `err.code` and `err.message` together.
 */
export const ErrorTable = {
  // Registration
  AGS_INVALID_OPTION: { message: 'Invalid option "%s": %s (got %s)', status: 500, close: 0 },
  AGS_ALREADY_REGISTERED: { message: 'fastify-autogen-stream is already registered in this context (route %s); for another route, register it again inside an encapsulated plugin: app.register(async (child) => { await child.register(autogenStream, { path, runner }) })', status: 500, close: 0 },

  // Client frames (an `error` frame without runId, or a close)
  AGS_BAD_JSON: { message: 'Frame is not valid JSON: %s', status: 400, close: 0 },
  AGS_BAD_FRAME: { message: 'Invalid frame: %s', status: 400, close: 0 },
  AGS_BINARY_FRAME: { message: 'Binary frames are not supported; send JSON text frames', status: 415, close: 1003 },
  AGS_FRAME_TOO_LARGE: { message: 'Frame of %d bytes exceeds maxPayload (%d bytes)', status: 413, close: 1009 },
  AGS_TOO_MANY_BAD_FRAMES: { message: 'Too many invalid frames (%d)', status: 400, close: 1008 },
  AGS_TOO_MANY_RUNS: { message: 'This connection already has %d active runs (maxRunsPerConnection)', status: 429, close: 0 },
  AGS_DUPLICATE_RUN_ID: { message: 'A run with id "%s" is already active', status: 409, close: 0 },
  AGS_RATE_LIMITED: { message: 'Too many frames: at most %d a second, %d at once (frameRate, frameBurst)', status: 429, close: 0 },
  AGS_TOO_MANY_RUNS_FOR_IDENTITY: { message: 'This identity already has %d active runs (maxRunsPerIdentity)', status: 429, close: 0 },
  AGS_BUSY: { message: 'The server is busy: %d runs active and %d queued (maxActiveRuns, maxQueuedRuns); try again later', status: 503, close: 0 },
  AGS_TASK_TOO_LARGE: { message: 'The task is %d bytes; at most %d (maxTaskBytes)', status: 413, close: 0 },
  AGS_UNKNOWN_RUN: { message: 'No run "%s" for this connection', status: 404, close: 0 },
  AGS_RESUME_GAP: { message: 'Run "%s" no longer keeps the frames after seq %d: the oldest kept is %d', status: 410, close: 0 },
  AGS_ALREADY_ATTACHED: { message: 'This connection already reads a run "%s"; detach it first', status: 409, close: 0 },
  AGS_TOO_MANY_WATCHERS: { message: 'Run "%s" has %d connections attached (maxWatchersPerRun)', status: 429, close: 0 },
  // The first argument names what waits: `Run "r1"` (an input frame), `Thread "t1"` (a start with an answer)
  AGS_UNKNOWN_REQUEST: { message: '%s is not waiting for input "%s"', status: 404, close: 0 },
  AGS_UNSUPPORTED_PROTOCOL: { message: 'None of the offered subprotocols (%s) is supported; use %s', status: 400, close: 0 },
  AGS_FORBIDDEN_ORIGIN: { message: 'Origin %s may not open this socket (allowedOrigins)', status: 403, close: 0 },
  AGS_UNAUTHENTICATED: { message: 'Authentication required', status: 401, close: 0 },
  AGS_TOO_MANY_CONNECTIONS: { message: 'The server has %d connections (maxConnections)', status: 503, close: 0 },
  AGS_TOO_MANY_CONNECTIONS_FROM_IP: { message: 'This address has %d connections (maxConnectionsPerIp)', status: 429, close: 0 },
  AGS_FORBIDDEN: { message: 'Not allowed to connect', status: 403, close: 0 },
  AGS_STORE_UNAVAILABLE: { message: 'The run store cannot be reached: %s', status: 503, close: 0 },
  AGS_UNKNOWN_THREAD: { message: 'No thread "%s" for this identity', status: 404, close: 0 },
  AGS_THREAD_BUSY: { message: 'Thread "%s" has an active run ("%s"); one run at a time per thread', status: 409, close: 0 },
  AGS_TOO_MANY_THREADS: { message: 'This identity has %d threads, each with an active run (maxThreadsPerIdentity)', status: 429, close: 0 },
  AGS_THREAD_UNSUPPORTED: { message: 'Threads are not supported here: %s', status: 501, close: 0 }, // N (a start refused), and W (its own text: the run's error)

  // The AG-UI route (docs/ag-ui.md): HTTP answers before its stream begins
  AGS_BAD_INPUT: { message: 'Not a request this server can run: %s', status: 400, close: 0 },
  AGS_BODY_TOO_LARGE: { message: 'The request body is over %d bytes (agUi.bodyLimit)', status: 413, close: 0 },

  // Runs (an `error` frame with runId and seq)
  AGS_RUNNER_ERROR: { message: 'The runner failed', status: 500, close: 0 },
  AGS_RUNNER_NO_RESULT: { message: 'The runner ended without a TaskResult', status: 500, close: 0 },
  AGS_INVALID_EVENT: { message: 'The runner yielded a value that is not an AutoGen event (an object with a string "type")', status: 500, close: 0 },
  AGS_RUN_TIMEOUT: { message: 'The run exceeded runTimeout (%d ms)', status: 504, close: 0 },
  AGS_INPUT_TIMEOUT: { message: 'No input for request "%s" within %d ms', status: 408, close: 0 },
  // Reaches the runner (requestInput rejects with it), never the client: the run is to end with its state kept
  AGS_INPUT_INTERRUPTED: { message: 'Input request "%s" waited longer than holdInputFor (%d ms): the run ends here, its state kept, and the answer continues it', status: 503, close: 0 },
  AGS_INTERRUPT_FAILED: { message: 'The run waited for input longer than holdInputFor, but could not be held for the answer: %s', status: 500, close: 0 },
  AGS_RUN_CANCELLED: { message: 'The run was cancelled (%s)', status: 499, close: 0 },
  AGS_RUN_REFUSED: { message: 'This run is not allowed', status: 403, close: 0 },
  // A thread run's state that was not saved: in `stateError` of its terminal frame, never its outcome
  AGS_THREAD_STATE_TOO_LARGE: { message: 'The thread\'s state is %d bytes, over maxThreadStateBytes (%d): it was not saved', status: 413, close: 0 }, // N, and W (its own text: over maxLineBytes)
  AGS_THREAD_STATE_FAILED: { message: 'The thread\'s state could not be saved: %s', status: 500, close: 0 }, // N, and W (its own text; also a state that does not load: the run's error)

  // Runs of the Python bridge: decided by the worker (W) or by Node (N)
  AGS_FACTORY_ERROR: { message: 'The agent factory failed', status: 500, close: 0 }, // W
  AGS_TASK_ERROR: { message: 'The run failed', status: 500, close: 0 }, // W
  AGS_BAD_REQUEST: { message: 'The run\'s task and options cannot be sent to the Python worker: they %s', status: 400, close: 0 }, // W (its own text) and N
  AGS_IMAGE_TOO_LARGE: { message: 'A task image is over maxImagePixels or maxImageBytes', status: 413, close: 0 }, // W (its own text)
  AGS_ITEM_TOO_LARGE: { message: 'An item exceeds the bridge\'s line limit (maxLineBytes)', status: 500, close: 0 }, // W (its own text)
  AGS_LINE_TOO_LONG: { message: 'The worker sent a message longer than maxLineBytes (%d bytes)', status: 500, close: 0 }, // N, and W for lines to it
  AGS_BAD_LINE: { message: 'The worker sent a message for this run that could not be read', status: 500, close: 0 }, // N
  AGS_BAD_OP: { message: 'The worker could not read a message for this run', status: 500, close: 0 }, // W
  AGS_DUPLICATE_RUN: { message: 'The run was started twice', status: 500, close: 0 }, // W
  AGS_STOPPED: { message: 'Stopped: a single agent has no turn to finish, so the run was cancelled', status: 499, close: 0 }, // N
  AGS_WORKER_CANCELLED: { message: 'The Python worker cancelled the run (it is shutting down)', status: 503, close: 0 }, // N
  AGS_WORKER_DIED: { message: 'The Python worker running this run exited', status: 502, close: 0 }, // N
  AGS_WORKER_UNRESPONSIVE: { message: 'The Python worker running this run stopped answering for %d ms (heartbeatTimeout) and was killed', status: 502, close: 0 }, // N
  AGS_WORKER_UNAVAILABLE: { message: 'No Python worker could take the run', status: 503, close: 0 }, // N
  AGS_WORKER_POOL_CLOSED: { message: 'The Python worker pool is shut down', status: 503, close: 0 }, // N
  AGS_WORKER_BUSY: { message: 'Every Python worker has more than maxQueuedBytes (%d) of messages it has not read yet; try again later', status: 503, close: 0 }, // N
  AGS_PYTHON_NOT_READY: { message: 'The Python worker (%s) could not start: %s. %s', status: 500, close: 0 }, // N, at app.ready()

  // Connections (a close)
  AGS_SLOW_CONSUMER: { message: 'The client did not read for %d ms with %d bytes buffered', status: 408, close: 4008 },
  AGS_HEARTBEAT_TIMEOUT: { message: 'The client missed %d pongs', status: 408, close: 1006 },
  AGS_IDLE_TIMEOUT: { message: 'No run for %d ms', status: 408, close: 1000 },
  AGS_SHUTDOWN: { message: 'The server is shutting down', status: 503, close: 1001 }
} as const

export type ErrorCode = keyof typeof ErrorTable

/** An error of the table: its code is one of ErrorCode. */
export interface AutogenStreamError extends Error {
  readonly code: ErrorCode
  /** The entry's `status`. */
  readonly statusCode?: number
}

const constructors = new Map<ErrorCode, FastifyErrorConstructor<{ code: ErrorCode }>>()

function define (code: ErrorCode): FastifyErrorConstructor<{ code: ErrorCode }> {
  let constructor = constructors.get(code)
  if (constructor === undefined) {
    constructor = createError(code, ErrorTable[code].message, ErrorTable[code].status)
    constructors.set(code, constructor)
  }
  return constructor
}

export const InvalidOptionError = define('AGS_INVALID_OPTION')
export const AlreadyRegisteredError = define('AGS_ALREADY_REGISTERED')
export const BadJsonError = define('AGS_BAD_JSON')
export const BadFrameError = define('AGS_BAD_FRAME')
export const BinaryFrameError = define('AGS_BINARY_FRAME')
export const FrameTooLargeError = define('AGS_FRAME_TOO_LARGE')
export const TooManyBadFramesError = define('AGS_TOO_MANY_BAD_FRAMES')
export const TooManyRunsError = define('AGS_TOO_MANY_RUNS')
export const DuplicateRunIdError = define('AGS_DUPLICATE_RUN_ID')
export const UnknownRunError = define('AGS_UNKNOWN_RUN')
export const UnknownRequestError = define('AGS_UNKNOWN_REQUEST')
export const ResumeGapError = define('AGS_RESUME_GAP')
export const AlreadyAttachedError = define('AGS_ALREADY_ATTACHED')
export const TooManyWatchersError = define('AGS_TOO_MANY_WATCHERS')
export const UnsupportedProtocolError = define('AGS_UNSUPPORTED_PROTOCOL')
export const ForbiddenOriginError = define('AGS_FORBIDDEN_ORIGIN')
export const UnauthenticatedError = define('AGS_UNAUTHENTICATED')
export const TooManyConnectionsError = define('AGS_TOO_MANY_CONNECTIONS')
export const TooManyConnectionsFromIpError = define('AGS_TOO_MANY_CONNECTIONS_FROM_IP')
export const RateLimitedError = define('AGS_RATE_LIMITED')
export const TooManyRunsForIdentityError = define('AGS_TOO_MANY_RUNS_FOR_IDENTITY')
export const BusyError = define('AGS_BUSY')
export const TaskTooLargeError = define('AGS_TASK_TOO_LARGE')
export const ForbiddenError = define('AGS_FORBIDDEN')
export const StoreUnavailableError = define('AGS_STORE_UNAVAILABLE')
export const UnknownThreadError = define('AGS_UNKNOWN_THREAD')
export const ThreadBusyError = define('AGS_THREAD_BUSY')
export const TooManyThreadsError = define('AGS_TOO_MANY_THREADS')
export const ThreadUnsupportedError = define('AGS_THREAD_UNSUPPORTED')
export const ThreadStateTooLargeError = define('AGS_THREAD_STATE_TOO_LARGE')
export const ThreadStateFailedError = define('AGS_THREAD_STATE_FAILED')
export const RunnerFailedError = define('AGS_RUNNER_ERROR')
export const RunnerNoResultError = define('AGS_RUNNER_NO_RESULT')
export const InvalidEventError = define('AGS_INVALID_EVENT')
export const RunTimeoutError = define('AGS_RUN_TIMEOUT')
export const InputTimeoutError = define('AGS_INPUT_TIMEOUT')
export const InputInterruptedError = define('AGS_INPUT_INTERRUPTED')
export const InterruptFailedError = define('AGS_INTERRUPT_FAILED')
export const RunCancelledError = define('AGS_RUN_CANCELLED')
export const SlowConsumerError = define('AGS_SLOW_CONSUMER')
export const HeartbeatTimeoutError = define('AGS_HEARTBEAT_TIMEOUT')
export const IdleTimeoutError = define('AGS_IDLE_TIMEOUT')
export const ShutdownError = define('AGS_SHUTDOWN')
export const PythonNotReadyError = define('AGS_PYTHON_NOT_READY')
export const BadInputError = define('AGS_BAD_INPUT')
export const BodyTooLargeError = define('AGS_BODY_TOO_LARGE')

export function closeCodeOf (code: ErrorCode): number {
  return ErrorTable[code].close
}

/**
 * The error a runner throws to end its run with a code and message the
 * client may see. Any other error is logged in full on the server and
 * reaches the client only as AGS_RUNNER_ERROR, so stack traces and internal
 * details never leave the process.
 */
export class RunError extends Error {
  readonly code: string
  constructor (code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'RunError'
    this.code = code
  }

  /** A RunError of the product's own table: the code's message, formatted with `args`. */
  static of (code: ErrorCode, args: unknown[] = [], options?: { cause?: unknown }): RunError {
    const err = new (define(code))(...args)
    return new RunError(code, err.message, options)
  }
}
