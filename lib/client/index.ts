/**
 * fastify-autogen-stream/client: a typed client of the plugin's protocol v2
 * for browsers and Node. No runtime dependency: it uses the platform's
 * WebSocket (or the one passed in) and imports only types from the server.
 */
export { createClient, Client, CLIENT_OPTIONS } from './client.js'
export type { ClientOptions, ClientEvents, ConnectionState, StateChange, ReconnectOptions, StartOptions, WebSocketConstructor, WebSocketLike } from './client.js'
export { ClientRun } from './run.js'
export type { RunEvents, RunState } from './run.js'
export type { StorageLike, SavedRun } from './storage.js'
export { AutogenStreamError, isAutogenStreamError, CLIENT_ERROR_CODES } from './errors.js'
export type { AnyErrorCode, ClientErrorCode } from './errors.js'
export { Transcript, textOf } from './transcript.js'
export type {
  TranscriptEntry, MessageEntry, ToolCallsEntry, ToolResultsEntry, ThoughtEntry, SpeakerEntry, InputRequestedEntry, OtherEntry, GapEntry, ToolCall
} from './transcript.js'
export type { ErrorCode } from '../errors.js'
export type {
  ClientFrame, ServerFrame, RunFrame, TerminalFrame, StartedFrame, QueuedFrame, TokenFrame, EventFrame, InputRequestFrame, ResultFrame,
  CancelledFrame, RunErrorFrame, ConnectionErrorFrame, AttachedFrame, DetachedFrame, RunsFrame, RunSummary, CancelReason, InterruptedFrame,
  ThreadInfoFrame
} from '../schemas/frames.js'
export type { AutoGenEvent, TaskResult } from '../schemas/events.js'
