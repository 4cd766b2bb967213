import { Type, type Static, type TObject, type TProperties } from 'typebox'

/*
 * AutoGen AgentChat 0.7 messages and events, as `model_dump(mode="json")`
 * writes them. Every object stays open (additional properties allowed): a
 * newer AutoGen may add fields, and the plugin forwards what it gets
 * verbatim. These schemas type the runner's output and document it; the
 * plugin itself only relies on `type` (and, for streaming chunks, on
 * `content`, `source` and `full_message_id`).
 */

export const RequestUsage = Type.Object({
  prompt_tokens: Type.Integer(),
  completion_tokens: Type.Integer()
})

export const FunctionCall = Type.Object({
  id: Type.String(),
  arguments: Type.String(),
  name: Type.String()
})

export const FunctionExecutionResult = Type.Object({
  content: Type.String(),
  name: Type.String(),
  call_id: Type.String(),
  is_error: Type.Union([Type.Boolean(), Type.Null()])
})

/** An `autogen_core.Image`: base64 data, as pydantic serializes it. */
export const ImageData = Type.Object({ data: Type.String({ contentEncoding: 'base64' }) })

export const MemoryContent = Type.Object({
  content: Type.Unknown(),
  mime_type: Type.String(),
  metadata: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()])
})

export const CodeBlock = Type.Object({ code: Type.String(), language: Type.String() })
export const CodeResult = Type.Object({ exit_code: Type.Integer(), output: Type.String() })

/** Fields shared by every BaseChatMessage and BaseAgentEvent. */
const base = {
  id: Type.String(),
  source: Type.String(),
  models_usage: Type.Union([RequestUsage, Type.Null()]),
  metadata: Type.Record(Type.String(), Type.String()),
  created_at: Type.String({ format: 'date-time' })
}

function message<T extends string, P extends TProperties> (type: T, props: P) {
  return Type.Object({ ...base, ...props, type: Type.Literal(type) }, { $id: type })
}

// Chat messages
export const TextMessage = message('TextMessage', { content: Type.String() })
export const MultiModalMessage = message('MultiModalMessage', {
  content: Type.Array(Type.Union([Type.String(), ImageData]))
})
export const StopMessage = message('StopMessage', { content: Type.String() })
export const HandoffMessage = message('HandoffMessage', {
  content: Type.String(),
  target: Type.String(),
  context: Type.Array(Type.Unknown())
})
export const ToolCallSummaryMessage = message('ToolCallSummaryMessage', {
  content: Type.String(),
  tool_calls: Type.Array(FunctionCall),
  results: Type.Array(FunctionExecutionResult)
})
/** `StructuredMessage[T]`: the type names the content model, e.g. `StructuredMessage[Weather]`. */
export const StructuredMessage = Type.Object({
  ...base,
  content: Type.Unknown(),
  format_string: Type.Union([Type.String(), Type.Null()]),
  type: Type.String({ pattern: '^StructuredMessage' })
}, { $id: 'StructuredMessage' })

// Agent events
export const ToolCallRequestEvent = message('ToolCallRequestEvent', { content: Type.Array(FunctionCall) })
export const ToolCallExecutionEvent = message('ToolCallExecutionEvent', { content: Type.Array(FunctionExecutionResult) })
export const MemoryQueryEvent = message('MemoryQueryEvent', { content: Type.Array(MemoryContent) })
export const UserInputRequestedEvent = message('UserInputRequestedEvent', {
  request_id: Type.String(),
  content: Type.Literal('')
})
export const ModelClientStreamingChunkEvent = message('ModelClientStreamingChunkEvent', {
  content: Type.String(),
  full_message_id: Type.Union([Type.String(), Type.Null()])
})
export const ThoughtEvent = message('ThoughtEvent', { content: Type.String() })
export const SelectSpeakerEvent = message('SelectSpeakerEvent', { content: Type.Array(Type.String()) })
export const CodeGenerationEvent = message('CodeGenerationEvent', {
  retry_attempt: Type.Integer(),
  content: Type.String(),
  code_blocks: Type.Array(CodeBlock)
})
export const CodeExecutionEvent = message('CodeExecutionEvent', {
  retry_attempt: Type.Integer(),
  result: CodeResult
})

/**
 * The end of every run. AutoGen's `TaskResult` has no `type` field of its
 * own; a runner tags it `"TaskResult"` (the Python bridge does).
 */
export const TaskResult = Type.Object({
  type: Type.Literal('TaskResult'),
  messages: Type.Array(Type.Record(Type.String(), Type.Unknown())),
  stop_reason: Type.Union([Type.String(), Type.Null()])
}, { $id: 'TaskResult' })

/** A type this version does not know: forwarded untouched, never dropped. */
export const UnknownEvent = Type.Object({ type: Type.String() }, { additionalProperties: true })

export const knownEvents: TObject[] = [
  TextMessage, MultiModalMessage, StopMessage, HandoffMessage, ToolCallSummaryMessage, StructuredMessage,
  ToolCallRequestEvent, ToolCallExecutionEvent, MemoryQueryEvent, UserInputRequestedEvent,
  ModelClientStreamingChunkEvent, ThoughtEvent, SelectSpeakerEvent, CodeGenerationEvent, CodeExecutionEvent,
  TaskResult
]

export const AutoGenEvent = Type.Union([
  TextMessage, MultiModalMessage, StopMessage, HandoffMessage, ToolCallSummaryMessage, StructuredMessage,
  ToolCallRequestEvent, ToolCallExecutionEvent, MemoryQueryEvent, UserInputRequestedEvent,
  ModelClientStreamingChunkEvent, ThoughtEvent, SelectSpeakerEvent, CodeGenerationEvent, CodeExecutionEvent,
  TaskResult, UnknownEvent
])

export type TextMessage = Static<typeof TextMessage>
export type MultiModalMessage = Static<typeof MultiModalMessage>
export type StopMessage = Static<typeof StopMessage>
export type HandoffMessage = Static<typeof HandoffMessage>
export type ToolCallSummaryMessage = Static<typeof ToolCallSummaryMessage>
export type StructuredMessage = Static<typeof StructuredMessage>
export type ToolCallRequestEvent = Static<typeof ToolCallRequestEvent>
export type ToolCallExecutionEvent = Static<typeof ToolCallExecutionEvent>
export type MemoryQueryEvent = Static<typeof MemoryQueryEvent>
export type UserInputRequestedEvent = Static<typeof UserInputRequestedEvent>
export type ModelClientStreamingChunkEvent = Static<typeof ModelClientStreamingChunkEvent>
export type ThoughtEvent = Static<typeof ThoughtEvent>
export type SelectSpeakerEvent = Static<typeof SelectSpeakerEvent>
export type CodeGenerationEvent = Static<typeof CodeGenerationEvent>
export type CodeExecutionEvent = Static<typeof CodeExecutionEvent>
export type TaskResult = Static<typeof TaskResult>
export type UnknownEvent = Static<typeof UnknownEvent>
/** Any AutoGen AgentChat message or event, known or not. */
export type AutoGenEvent = Static<typeof AutoGenEvent>
