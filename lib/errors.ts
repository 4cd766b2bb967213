import createError from '@fastify/error'

/**
 * The one table of everything that can go wrong, for the server log and the
 * client alike. `code` is stable and part of the protocol (docs/protocol.md);
 * `close` is the WebSocket close code used when the connection cannot go on
 * (0: the connection stays open and the client gets an `error` frame).
 */
export const ErrorTable = {
  // Registration
  AGS_INVALID_OPTION: { message: 'Invalid option "%s": %s (got %s)', close: 0 },

  // Client frames
  AGS_BAD_JSON: { message: 'Frame is not valid JSON: %s', close: 0 },
  AGS_BAD_FRAME: { message: 'Invalid frame: %s', close: 0 },
  AGS_BINARY_FRAME: { message: 'Binary frames are not supported; send JSON text frames', close: 1003 },
  AGS_FRAME_TOO_LARGE: { message: 'Frame of %d bytes exceeds maxPayload (%d bytes)', close: 1009 },
  AGS_TOO_MANY_BAD_FRAMES: { message: 'Too many invalid frames (%d)', close: 1008 },
  AGS_TOO_MANY_RUNS: { message: 'This connection already has %d active runs (maxRunsPerConnection)', close: 0 },
  AGS_DUPLICATE_RUN_ID: { message: 'A run with id "%s" is already active', close: 0 },
  AGS_UNKNOWN_RUN: { message: 'No active run "%s" on this connection', close: 0 },
  AGS_UNKNOWN_REQUEST: { message: 'Run "%s" is not waiting for input "%s"', close: 0 },
  AGS_UNSUPPORTED_PROTOCOL: { message: 'None of the offered subprotocols (%s) is supported; use %s', close: 0 },

  // Runs
  AGS_RUNNER_ERROR: { message: 'The runner failed', close: 0 },
  AGS_RUNNER_NO_RESULT: { message: 'The runner ended without a TaskResult', close: 0 },
  AGS_INVALID_EVENT: { message: 'The runner yielded a value that is not an AutoGen event (an object with a string "type")', close: 0 },
  AGS_RUN_TIMEOUT: { message: 'The run exceeded runTimeout (%d ms)', close: 0 },
  AGS_INPUT_TIMEOUT: { message: 'No input for request "%s" within %d ms', close: 0 },
  AGS_RUN_CANCELLED: { message: 'The run was cancelled (%s)', close: 0 },

  // Connections
  AGS_SLOW_CONSUMER: { message: 'The client did not read for %d ms with %d bytes buffered', close: 4008 },
  AGS_HEARTBEAT_TIMEOUT: { message: 'The client missed %d pongs', close: 1006 },
  AGS_IDLE_TIMEOUT: { message: 'No run for %d ms', close: 1000 },
  AGS_SHUTDOWN: { message: 'The server is shutting down', close: 1001 }
} as const

export type ErrorCode = keyof typeof ErrorTable

export interface AutogenStreamError extends Error {
  code: ErrorCode
}

function define (code: ErrorCode) {
  return createError(code, ErrorTable[code].message, 500)
}

export const InvalidOptionError = define('AGS_INVALID_OPTION')
export const BadJsonError = define('AGS_BAD_JSON')
export const BadFrameError = define('AGS_BAD_FRAME')
export const BinaryFrameError = define('AGS_BINARY_FRAME')
export const FrameTooLargeError = define('AGS_FRAME_TOO_LARGE')
export const TooManyBadFramesError = define('AGS_TOO_MANY_BAD_FRAMES')
export const TooManyRunsError = define('AGS_TOO_MANY_RUNS')
export const DuplicateRunIdError = define('AGS_DUPLICATE_RUN_ID')
export const UnknownRunError = define('AGS_UNKNOWN_RUN')
export const UnknownRequestError = define('AGS_UNKNOWN_REQUEST')
export const UnsupportedProtocolError = define('AGS_UNSUPPORTED_PROTOCOL')
export const RunnerFailedError = define('AGS_RUNNER_ERROR')
export const RunnerNoResultError = define('AGS_RUNNER_NO_RESULT')
export const InvalidEventError = define('AGS_INVALID_EVENT')
export const RunTimeoutError = define('AGS_RUN_TIMEOUT')
export const InputTimeoutError = define('AGS_INPUT_TIMEOUT')
export const RunCancelledError = define('AGS_RUN_CANCELLED')
export const SlowConsumerError = define('AGS_SLOW_CONSUMER')
export const HeartbeatTimeoutError = define('AGS_HEARTBEAT_TIMEOUT')
export const IdleTimeoutError = define('AGS_IDLE_TIMEOUT')
export const ShutdownError = define('AGS_SHUTDOWN')

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
}
