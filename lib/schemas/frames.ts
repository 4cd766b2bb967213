import { Type, type Static } from 'typebox'
import { Compile } from 'typebox/compile'
import type { AutoGenEvent, TaskResult } from './events.js'

/** The subprotocol versions this server speaks, newest first. */
export const PROTOCOLS = ['autogen-stream.v2', 'autogen-stream.v1'] as const
export const PROTOCOL = PROTOCOLS[0]
export type ProtocolVersion = typeof PROTOCOLS[number]

const RunId = Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._:-]+$' })
/** Chosen by the client, like a runId; the server keys a thread by its owner's identity and this, never by this alone. */
const ThreadId = Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._:-]+$' })

const RequestId = Type.String({ minLength: 1, maxLength: 256 })

/** AutoGen accepts a string, a message, or a list of messages as a task. */
export const Task = Type.Union([
  Type.String(),
  Type.Record(Type.String(), Type.Unknown()),
  Type.Array(Type.Union([Type.String(), Type.Record(Type.String(), Type.Unknown())]))
])
export type Task = Static<typeof Task>

// Client to server
export const StartFrame = Type.Object({
  type: Type.Literal('start'),
  runId: Type.Optional(RunId),
  /** Required, unless the frame carries `answer` instead. */
  task: Type.Optional(Task),
  /** Free-form options handed to the runner (the Python bridge passes them to the factory). */
  options: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
  /** v2: the run continues this thread of the connection's identity (created by its first run): its team starts from the state the previous run saved. */
  threadId: Type.Optional(ThreadId),
  /**
   * v2, with `threadId`, instead of `task`: the answer to the question the
   * thread's last run was interrupted at (its `interrupted` frame's
   * requestId): the conversation goes on from there with `content` as the
   * asker's reply.
   */
  answer: Type.Optional(Type.Object({ requestId: RequestId, content: Type.String() }, { additionalProperties: false }))
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
  requestId: RequestId,
  content: Type.String()
}, { additionalProperties: false })

/** v2: read a run from after seq `after` (-1: everything kept), then live. */
export const AttachFrame = Type.Object({
  type: Type.Literal('attach'),
  runId: RunId,
  after: Type.Integer({ minimum: -1, maximum: Number.MAX_SAFE_INTEGER }),
  /** The `resumeToken` of the run's `started` frame: needed when this connection's identity does not own the run. */
  resumeToken: Type.Optional(Type.String({ minLength: 1, maxLength: 128 }))
}, { additionalProperties: false })

/** v2: stop receiving a run without cancelling it. */
export const DetachFrame = Type.Object({
  type: Type.Literal('detach'),
  runId: RunId
}, { additionalProperties: false })

/** v2: the runs this connection's identity owns. */
export const ListFrame = Type.Object({
  type: Type.Literal('list')
}, { additionalProperties: false })

/** v2: a thread of this connection's identity: its runs and token usage (answered by a `thread` frame). */
export const ThreadFrame = Type.Object({
  type: Type.Literal('thread'),
  threadId: ThreadId
}, { additionalProperties: false })

/** v2: forget a thread of this connection's identity and its saved state (answered by `thread_deleted`). */
export const DeleteThreadFrame = Type.Object({
  type: Type.Literal('delete_thread'),
  threadId: ThreadId
}, { additionalProperties: false })

export const ClientFrame = Type.Union([StartFrame, CancelFrame, StopFrame, InputFrame, AttachFrame, DetachFrame, ListFrame, ThreadFrame, DeleteThreadFrame])

type StartFields = Static<typeof StartFrame>
/** The answer of a start that continues an interrupted run. */
export type StartAnswer = NonNullable<StartFields['answer']>
/**
 * A start with a task, or (v2) one with the answer to its thread's
 * interrupted run instead: what checkClientFrame lets through, which one
 * schema of optional fields says less precisely.
 */
export type StartFrame =
  | (Omit<StartFields, 'task' | 'answer'> & { task: Task, answer?: undefined })
  | (Omit<StartFields, 'task' | 'answer' | 'threadId'> & { threadId: string, answer: StartAnswer, task?: undefined })
export type CancelFrame = Static<typeof CancelFrame>
export type StopFrame = Static<typeof StopFrame>
export type InputFrame = Static<typeof InputFrame>
export type AttachFrame = Static<typeof AttachFrame>
export type DetachFrame = Static<typeof DetachFrame>
export type ListFrame = Static<typeof ListFrame>
export type ThreadFrame = Static<typeof ThreadFrame>
export type DeleteThreadFrame = Static<typeof DeleteThreadFrame>
export type ClientFrame = StartFrame | CancelFrame | StopFrame | InputFrame | AttachFrame | DetachFrame | ListFrame | ThreadFrame | DeleteThreadFrame

// Compiled once, at import.
export const clientFrameTypes = {
  start: Compile(StartFrame),
  cancel: Compile(CancelFrame),
  stop: Compile(StopFrame),
  input: Compile(InputFrame),
  attach: Compile(AttachFrame),
  detach: Compile(DetachFrame),
  list: Compile(ListFrame),
  thread: Compile(ThreadFrame),
  delete_thread: Compile(DeleteThreadFrame)
} as const

/** The frame types of each version: v1 has no attach, detach, list nor threads. */
export const CLIENT_FRAME_TYPES: Record<ProtocolVersion, ReadonlyArray<keyof typeof clientFrameTypes>> = {
  'autogen-stream.v2': ['start', 'cancel', 'stop', 'input', 'attach', 'detach', 'list', 'thread', 'delete_thread'],
  'autogen-stream.v1': ['start', 'cancel', 'stop', 'input']
}

/**
 * Validates a parsed frame, returning it typed or a one-line reason naming
 * the first offending field (the client sees it in AGS_BAD_FRAME).
 */
export function checkClientFrame (value: unknown, version: ProtocolVersion = PROTOCOL): { frame: ClientFrame } | { reason: string } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { reason: 'a frame must be a JSON object' }
  }
  const type = (value as { type?: unknown }).type
  const types = CLIENT_FRAME_TYPES[version]
  if (typeof type !== 'string' || !(types as readonly string[]).includes(type)) {
    const names = types.map((t) => `"${t}"`)
    return { reason: `unknown frame type ${JSON.stringify(type)}${version === PROTOCOL ? '' : ` in ${version}`}; expected ${names.slice(0, -1).join(', ')} or ${names.at(-1) ?? ''}` }
  }
  const check = clientFrameTypes[type as keyof typeof clientFrameTypes]
  if (!check.Check(value)) return { reason: `${type}: ${describeErrors(check.Errors(value))}` }
  if (type === 'start') {
    // What one schema cannot say plainly: a start carries a task or an answer, and an answer belongs to a thread.
    const start = value as StartFields
    if (start.answer === undefined && start.task === undefined) return { reason: 'start: missing field "task"' }
    if (start.answer !== undefined && start.task !== undefined) return { reason: 'start: "task" and "answer" together; an answer is the task of the run it starts' }
    if (start.answer !== undefined && start.threadId === undefined) return { reason: 'start: "answer" needs the "threadId" of the interrupted run' }
  }
  return { frame: value as ClientFrame }
}

type ValidationError = ReturnType<typeof clientFrameTypes.start.Errors>[number]

/** One line naming the offending field, from TypeBox's list (which names a union's every branch). */
export function describeErrors (errors: ValidationError[]): string {
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
export const CANCEL_REASONS = ['client', 'disconnect', 'shutdown', 'slow_consumer', 'heartbeat', 'abandoned'] as const
export type CancelReason = typeof CANCEL_REASONS[number]

interface RunFrameBase { runId: string, seq: number }
export interface StartedFrame extends RunFrameBase {
  type: 'started'
  /** v2, only to the connection that started the run: the secret that lets another connection (another identity, or an anonymous one after a reload) attach. */
  resumeToken?: string
}
/** The run waits for a slot (maxActiveRuns): `position` in the server's queue when it was started. Right after `started`. */
export interface QueuedFrame extends RunFrameBase { type: 'queued', position: number }
export interface TokenFrame extends RunFrameBase {
  type: 'token'
  source: string
  full_message_id: string | null
  /** The text of `chunks` consecutive streaming chunks, concatenated. */
  text: string
  /** v2: the frame stands for seqs seq - chunks + 1 .. seq (one per chunk); v1: seq is this frame's alone. */
  chunks: number
}
export interface EventFrame extends RunFrameBase { type: 'event', event: AutoGenEvent }
export interface InputRequestFrame extends RunFrameBase {
  type: 'input_request'
  requestId: string
  prompt: string
  /** v2: sent again, with its first seq, to a connection that attached after it while it is still pending. Not part of the seq sequence. */
  resent?: true
  /** v2: the run no longer waits for it when this connection is sent it (answered from another connection, or a replay after the answer): show it, don't ask. */
  answered?: true
}
/**
 * Tokens a run's models reported: the models_usage (AutoGen's RequestUsage)
 * of its messages and events, summed. AutoGen's events do not name the
 * model, so these are totals for the run.
 */
export interface Usage { prompt_tokens: number, completion_tokens: number }
/**
 * A thread run's state that was not saved (AGS_THREAD_STATE_TOO_LARGE,
 * AGS_THREAD_STATE_FAILED): the thread keeps its previous state. The run's
 * outcome is the frame's own.
 */
export interface StateError { code: string, message: string }
/**
 * `usage`: on a run's terminal frame once any of its models reported usage (absent: unknown, not 0).
 * `stateError`: only on a thread run's, when its state was not saved.
 */
export interface ResultFrame extends RunFrameBase { type: 'result', result: TaskResult, usage?: Usage, stateError?: StateError }
export interface CancelledFrame extends RunFrameBase { type: 'cancelled', reason: CancelReason, usage?: Usage, stateError?: StateError }
export interface RunErrorFrame extends RunFrameBase { type: 'error', code: string, message: string, usage?: Usage, stateError?: StateError }
/**
 * v2, a thread run's only: the run waited for input (`input_request`
 * `requestId`, `prompt`) longer than holdInputFor, so it ended there, its
 * state kept, freeing what ran it. It waits for you: answer with a `start`
 * of `threadId` carrying `answer: { requestId, content }`. `source`: who
 * asked (the UserProxyAgent's name), when the runner says.
 */
export interface InterruptedFrame extends RunFrameBase {
  type: 'interrupted'
  threadId: string
  requestId: string
  prompt: string
  source?: string
  usage?: Usage
  stateError?: StateError
}
/** An error about a client frame or the connection: no runId, no seq. */
export interface ConnectionErrorFrame {
  type: 'error'
  code: string
  message: string
  ref?: { type?: string, runId?: string, requestId?: string, threadId?: string }
  /** AGS_RESUME_GAP: the oldest and newest seq kept, and the run's terminal frame when it has ended. */
  oldestSeq?: number
  lastSeq?: number
  terminal?: TerminalFrame
}

/** v2: answers `attach`; the run's frames after `after` follow, then live ones. */
export interface AttachedFrame { type: 'attached', runId: string, after: number, oldestSeq: number, lastSeq: number, ended: boolean }
/** v2: this connection no longer receives the run (its `detach`, or it fell maxRunLag behind for stallTimeout: reason `lagging`). The run goes on. */
export interface DetachedFrame { type: 'detached', runId: string, reason: 'client' | 'lagging', lastSeq: number }
export interface RunSummary {
  runId: string
  state: 'queued' | 'running' | 'ended'
  /** The newest seq of its log. */
  lastSeq: number
  /** Connections reading it now. */
  watchers: number
  outcome?: Outcome
}
/** v2: answers `list`. */
export interface RunsFrame { type: 'runs', runs: RunSummary[] }

/** One run of a thread, as its `thread` frame lists it. */
export interface ThreadRunSummary {
  runId: string
  state: 'running' | 'ended'
  outcome?: Outcome
  /** The run's terminal `usage` (absent while it runs). */
  usage?: Usage
  /** Whether its state was saved (absent while it runs). */
  stateSaved?: boolean
  /** Epoch ms. */
  startedAt: number
  endedAt?: number
}
/** v2: answers `thread`. */
export interface ThreadInfoFrame {
  type: 'thread'
  threadId: string
  /** Its runs, oldest first (the last 100). */
  runs: ThreadRunSummary[]
  /** The sum of its ended runs' terminal `usage`. */
  usage: Usage
  /** Bytes of its saved state (JSON; 0: none yet). */
  stateBytes: number
  /** Epoch ms: made by its first run; last run started or ended. */
  createdAt: number
  updatedAt: number
  /** Its last run was interrupted at this input request (its `interrupted` frame's): the thread waits for a `start` with `answer`. */
  pending?: { requestId: string, prompt: string, source?: string }
}
/** v2: answers `delete_thread`. */
export interface ThreadDeletedFrame { type: 'thread_deleted', threadId: string }

export type RunFrame = StartedFrame | QueuedFrame | TokenFrame | EventFrame | InputRequestFrame | ResultFrame | CancelledFrame | RunErrorFrame | InterruptedFrame
export type TerminalFrame = ResultFrame | CancelledFrame | RunErrorFrame | InterruptedFrame
/** How a run ended: its terminal frame's type. */
export type Outcome = TerminalFrame['type']

/** Whether a run frame is its run's last. */
export function isTerminal (frame: RunFrame): frame is TerminalFrame {
  const type = frame.type
  return type === 'result' || type === 'cancelled' || type === 'error' || type === 'interrupted'
}
export type ServerFrame = RunFrame | ConnectionErrorFrame | AttachedFrame | DetachedFrame | RunsFrame | ThreadInfoFrame | ThreadDeletedFrame
