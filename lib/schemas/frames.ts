import { Type, type Static } from 'typebox'
import { Compile } from 'typebox/compile'
import type { AutoGenEvent, TaskResult } from './events.js'

/** The subprotocol versions this server speaks, newest first. */
export const PROTOCOLS = ['autogen-stream.v1'] as const
export const PROTOCOL = PROTOCOLS[0]

const RunId = Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._:-]+$' })

// Client to server
export const StartFrame = Type.Object({
  type: Type.Literal('start'),
  runId: Type.Optional(RunId),
  /** AutoGen accepts a string, a message, or a list of messages as a task. */
  task: Type.Union([
    Type.String(),
    Type.Record(Type.String(), Type.Unknown()),
    Type.Array(Type.Union([Type.String(), Type.Record(Type.String(), Type.Unknown())]))
  ]),
  /** Free-form options handed to the runner (the Python bridge passes them to the factory). */
  options: Type.Optional(Type.Record(Type.String(), Type.Unknown()))
}, { additionalProperties: false })

export const CancelFrame = Type.Object({
  type: Type.Literal('cancel'),
  runId: RunId
}, { additionalProperties: false })

/** Graceful stop: the runner finishes its current step and ends with a normal result (teams: ExternalTermination). */
export const StopFrame = Type.Object({
  type: Type.Literal('stop'),
  runId: RunId
}, { additionalProperties: false })

export const InputFrame = Type.Object({
  type: Type.Literal('input'),
  runId: RunId,
  requestId: Type.String({ minLength: 1, maxLength: 256 }),
  content: Type.String()
}, { additionalProperties: false })

export const ClientFrame = Type.Union([StartFrame, CancelFrame, StopFrame, InputFrame])

export type StartFrame = Static<typeof StartFrame>
export type CancelFrame = Static<typeof CancelFrame>
export type StopFrame = Static<typeof StopFrame>
export type InputFrame = Static<typeof InputFrame>
export type ClientFrame = Static<typeof ClientFrame>

// Compiled once, at import.
export const clientFrameTypes = {
  start: Compile(StartFrame),
  cancel: Compile(CancelFrame),
  stop: Compile(StopFrame),
  input: Compile(InputFrame)
} as const

/**
 * Validates a parsed frame, returning it typed or a one-line reason naming
 * the first offending field (the client sees it in AGS_BAD_FRAME).
 */
export function checkClientFrame (value: unknown): { frame: ClientFrame } | { reason: string } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { reason: 'a frame must be a JSON object' }
  }
  const type = (value as { type?: unknown }).type
  if (typeof type !== 'string' || !Object.hasOwn(clientFrameTypes, type)) {
    return { reason: `unknown frame type ${JSON.stringify(type)}; expected "start", "cancel", "stop" or "input"` }
  }
  const check = clientFrameTypes[type as keyof typeof clientFrameTypes]
  if (check.Check(value)) return { frame: value as ClientFrame }
  return { reason: `${type}: ${describeErrors(check.Errors(value))}` }
}

type ValidationError = ReturnType<typeof clientFrameTypes.start.Errors>[number]

/** One line naming the offending field, from TypeBox's list (which names a union's every branch). */
function describeErrors (errors: ValidationError[]): string {
  const extra = errors.find((e) => e.keyword === 'additionalProperties')
  if (extra !== undefined) {
    const names = (extra.params as { additionalProperties?: string[] }).additionalProperties ?? []
    return `unknown field ${names.map((n) => JSON.stringify(n)).join(', ')}`
  }
  const first = errors[0]
  if (first === undefined) return 'does not match the schema'
  if (first.keyword === 'required') {
    const names = (first.params as { requiredProperties?: string[] }).requiredProperties ?? []
    return `missing field ${names.map((n) => JSON.stringify(n)).join(', ')}`
  }
  const where = first.instancePath === '' ? '' : `${first.instancePath}: `
  const union = errors.find((e) => e.keyword === 'anyOf' && e.instancePath === first.instancePath)
  if (union !== undefined) {
    const types = errors.filter((e) => e.keyword === 'type' && e.instancePath === first.instancePath)
      .map((e) => String((e.params as { type?: unknown }).type))
    if (types.length > 0) return `${where}must be ${types.slice(0, -1).join(', ')}${types.length > 1 ? ' or ' : ''}${types.at(-1) ?? ''}`
  }
  return `${where}${first.message}`
}

// Server to client
/** Why a run was cancelled. (A run that exceeds runTimeout ends with `error` AGS_RUN_TIMEOUT, not with `cancelled`.) */
export const CANCEL_REASONS = ['client', 'disconnect', 'shutdown', 'slow_consumer', 'heartbeat'] as const
export type CancelReason = typeof CANCEL_REASONS[number]

interface RunFrameBase { runId: string, seq: number }
export interface StartedFrame extends RunFrameBase { type: 'started' }
/** The run waits for a slot (maxActiveRuns): `position` in the server's queue when it was started. Right after `started`. */
export interface QueuedFrame extends RunFrameBase { type: 'queued', position: number }
export interface TokenFrame extends RunFrameBase {
  type: 'token'
  source: string
  full_message_id: string | null
  /** The text of `chunks` consecutive streaming chunks, concatenated. */
  text: string
  chunks: number
}
export interface EventFrame extends RunFrameBase { type: 'event', event: AutoGenEvent }
export interface InputRequestFrame extends RunFrameBase { type: 'input_request', requestId: string, prompt: string }
export interface ResultFrame extends RunFrameBase { type: 'result', result: TaskResult }
export interface CancelledFrame extends RunFrameBase { type: 'cancelled', reason: CancelReason }
export interface RunErrorFrame extends RunFrameBase { type: 'error', code: string, message: string }
/** An error about a client frame or the connection: no runId, no seq. */
export interface ConnectionErrorFrame { type: 'error', code: string, message: string, ref?: { type?: string, runId?: string, requestId?: string } }

export type RunFrame = StartedFrame | QueuedFrame | TokenFrame | EventFrame | InputRequestFrame | ResultFrame | CancelledFrame | RunErrorFrame
export type TerminalFrame = ResultFrame | CancelledFrame | RunErrorFrame
export type ServerFrame = RunFrame | ConnectionErrorFrame
