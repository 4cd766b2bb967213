import { autogenStream } from './plugin.js'

export { autogenStream }
export default autogenStream

export type { AutogenStreamOptions, AutogenStreamSettings, AgUiOptions } from './options.js'
export type { AutogenStreamView, Counters } from './stats.js'
export type { MetricsRegistry } from './observe.js'
export type { Runner, RunnerObject, RunFunction, RunRequest, RunContext, RunThread, ThreadAnswer, InputRequestOptions, Identity } from './runner.js'
export type { Authenticate, AuthorizeRun } from './auth.js'
export { pythonRunner, type PythonRunner, type PythonRunnerOptions } from './python/runner.js'
export type { WorkerStats } from './python/protocol.js'
export { RunError, ErrorTable, type ErrorCode } from './errors.js'
export { PROTOCOL, PROTOCOLS, CANCEL_REASONS } from './schemas/frames.js'
export type {
  ClientFrame, StartFrame, CancelFrame, StopFrame, InputFrame, AttachFrame, DetachFrame, ListFrame, ServerFrame, RunFrame, TerminalFrame,
  StartedFrame, QueuedFrame, TokenFrame, EventFrame, InputRequestFrame, ResultFrame, CancelledFrame, RunErrorFrame, ConnectionErrorFrame, Usage,
  AttachedFrame, DetachedFrame, RunsFrame, RunSummary, CancelReason, ProtocolVersion,
  ThreadFrame, DeleteThreadFrame, ThreadInfoFrame, ThreadDeletedFrame, ThreadRunSummary, StateError, InterruptedFrame, Outcome, Task, StartAnswer
} from './schemas/frames.js'
export * as schemas from './schemas/events.js'
export type {
  AutoGenEvent, TaskResult, TextMessage, MultiModalMessage, StopMessage, HandoffMessage, ToolCallSummaryMessage,
  StructuredMessage, ToolCallRequestEvent, ToolCallExecutionEvent, MemoryQueryEvent, UserInputRequestedEvent,
  ModelClientStreamingChunkEvent, ThoughtEvent, SelectSpeakerEvent, CodeGenerationEvent, CodeExecutionEvent, UnknownEvent
} from './schemas/events.js'
