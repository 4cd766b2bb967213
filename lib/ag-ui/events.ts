/*
 * The AG-UI 1.0 events this plugin sends (https://ag-ui.com, @ag-ui/core
 * 1.0), written out here rather than imported: @ag-ui/core is not a
 * dependency of the plugin, only of its tests, which check every event
 * against the package's own Zod schemas (EventSchemas) and verifyEvents.
 *
 * Optional fields are left out when they have no value, never sent as
 * null: AG-UI's schemas refuse null where a field is optional.
 */

/** The protocol version the events follow (RUN_STARTED.protocolVersion). */
export const AG_UI_PROTOCOL_VERSION = '1.0'

export interface AgUiBase {
  /** The AutoGen message or event this AG-UI event was made from, verbatim (on the first event made from it). */
  rawEvent?: unknown
  metadata?: Record<string, unknown>
}

export interface TokenUsage {
  inputTokens?: number
  outputTokens?: number
  totalTokens?: number
}

export interface Interrupt {
  id: string
  reason: string
  message?: string
  metadata?: Record<string, unknown>
}

export type RunOutcome =
  | { type: 'success' }
  | { type: 'cancelled' }
  | { type: 'interrupt', interrupts: Interrupt[] }

export type AgUiEvent = AgUiBase & (
  | { type: 'RUN_STARTED', threadId: string, runId: string, protocolVersion?: string }
  | { type: 'RUN_FINISHED', threadId: string, runId: string, result?: unknown, outcome?: RunOutcome, usage?: TokenUsage[] }
  | { type: 'RUN_ERROR', message: string, code?: string, usage?: TokenUsage[] }
  | { type: 'TEXT_MESSAGE_START', messageId: string, role?: 'assistant' | 'user', name?: string }
  | { type: 'TEXT_MESSAGE_CONTENT', messageId: string, delta: string }
  | { type: 'TEXT_MESSAGE_END', messageId: string }
  | { type: 'TOOL_CALL_START', toolCallId: string, toolCallName: string, parentMessageId?: string }
  | { type: 'TOOL_CALL_ARGS', toolCallId: string, delta: string }
  | { type: 'TOOL_CALL_END', toolCallId: string }
  | { type: 'TOOL_CALL_RESULT', messageId: string, toolCallId: string, content: string, role?: 'tool' }
  | { type: 'REASONING_START', messageId: string }
  | { type: 'REASONING_MESSAGE_START', messageId: string, role: 'reasoning' }
  | { type: 'REASONING_MESSAGE_CONTENT', messageId: string, delta: string }
  | { type: 'REASONING_MESSAGE_END', messageId: string }
  | { type: 'REASONING_END', messageId: string }
  | { type: 'STEP_STARTED', stepName: string }
  | { type: 'STEP_FINISHED', stepName: string }
  | { type: 'CUSTOM', name: string, value: unknown }
)

export type AgUiEventType = AgUiEvent['type']
