import type { ErrorCode } from '../errors.js'
import type { ConnectionErrorFrame, RunErrorFrame, TerminalFrame } from '../schemas/frames.js'

/**
 * Codes the client makes itself, for what no server frame says: they share
 * the `AGS_` prefix and the server's table (lib/errors.ts) never uses them.
 */
export const CLIENT_ERROR_CODES = [
  /** `reconnect.retries` attempts in a row failed: the client gave up (its runs may still go on on the server). */
  'AGS_CONNECTION_LOST',
  /** `client.close()` while the run was read. */
  'AGS_CLIENT_CLOSED',
  /** `run.detach()`: this client stopped reading the run, which goes on on the server. */
  'AGS_DETACHED',
  /** No WebSocket implementation: pass `WebSocket` (e.g. the `ws` package) on Node < 22. */
  'AGS_NO_WEBSOCKET',
  /** The server answered the upgrade with an HTTP status the client cannot retry (Node clients see it; browsers cannot). */
  'AGS_UPGRADE_REFUSED',
  /** The server closed the connection for a reason a retry would repeat (1002, 1003, 1008, 1009). */
  'AGS_CONNECTION_REFUSED',
  /** The run ended `interrupted`: it waits for an answer (`client.answer()`), not a failure. On `result` only; never an 'error' event. */
  'AGS_RUN_INTERRUPTED'
] as const

export type ClientErrorCode = typeof CLIENT_ERROR_CODES[number]

/** Every code a client can see: the server's table, the client's own, and (from a newer server or a custom runner) any other string. */
export type AnyErrorCode = ErrorCode | ClientErrorCode | (string & Record<never, never>)

/**
 * The one error class of the client. `code` is the server's code (its
 * `error` frame, or the close it explains) or one of CLIENT_ERROR_CODES. A
 * run that ends with `cancelled` rejects its `result` with the server's
 * AGS_RUN_CANCELLED and the `reason`; one that ends `interrupted` with
 * AGS_RUN_INTERRUPTED and that frame (see run.interrupted).
 * Narrow with `isAutogenStreamError(err, 'AGS_BUSY')`.
 */
export class AutogenStreamError<C extends AnyErrorCode = AnyErrorCode> extends Error {
  readonly code: C
  /** The run the error is about, when it is about one. */
  readonly runId: string | undefined
  /** For an answer to a client frame: what that frame named. */
  readonly ref: ConnectionErrorFrame['ref'] | undefined
  /** The WebSocket close code, for errors that came with a close. */
  readonly closeCode: number | undefined
  /** For `AGS_RUN_CANCELLED`: the server's reason (`client`, `shutdown`, `abandoned`, …). */
  readonly reason: string | undefined
  /** The server frame the error came from, as it arrived. */
  readonly frame: ConnectionErrorFrame | TerminalFrame | undefined

  constructor (code: C, message: string, details: {
    runId?: string | undefined
    ref?: ConnectionErrorFrame['ref']
    closeCode?: number
    reason?: string
    frame?: ConnectionErrorFrame | TerminalFrame
    cause?: unknown
  } = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause })
    this.name = 'AutogenStreamError'
    this.code = code
    this.runId = details.runId ?? details.ref?.runId
    this.ref = details.ref
    this.closeCode = details.closeCode
    this.reason = details.reason
    this.frame = details.frame
  }
}

export function isAutogenStreamError<C extends AnyErrorCode> (err: unknown, code?: C): err is AutogenStreamError<C> {
  return err instanceof AutogenStreamError && (code === undefined || err.code === code)
}

/** The error of a run's terminal `error` frame, or of a connection `error` frame. */
export function errorOfFrame (frame: RunErrorFrame | ConnectionErrorFrame): AutogenStreamError {
  const code = typeof frame.code === 'string' ? frame.code : 'AGS_UNKNOWN'
  const message = typeof frame.message === 'string' ? frame.message : code
  return 'runId' in frame
    ? new AutogenStreamError(code, message, { runId: frame.runId, frame })
    : new AutogenStreamError(code, message, { ref: frame.ref, frame })
}
