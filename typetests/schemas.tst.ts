/*
 * Type tests of the exported TypeBox schemas, their Static types, and the
 * frame types of the wire protocol. Imports the published declarations (run
 * `npm run build` first).
 */
import type { Static, TSchema } from 'typebox'
import { describe, expect, test } from 'tstyche'
import {
  CANCEL_REASONS,
  PROTOCOL,
  PROTOCOLS,
  schemas,
  type AutoGenEvent,
  type AttachFrame,
  type AttachedFrame,
  type CancelFrame,
  type DetachFrame,
  type DetachedFrame,
  type ListFrame,
  type ThreadFrame,
  type DeleteThreadFrame,
  type ThreadInfoFrame,
  type ThreadDeletedFrame,
  type ThreadRunSummary,
  type StateError,
  type ProtocolVersion,
  type RunsFrame,
  type RunSummary,
  type CancelledFrame,
  type InterruptedFrame,
  type CancelReason,
  type ClientFrame,
  type CodeExecutionEvent,
  type CodeGenerationEvent,
  type ConnectionErrorFrame,
  type EventFrame,
  type HandoffMessage,
  type InputFrame,
  type InputRequestFrame,
  type MemoryQueryEvent,
  type ModelClientStreamingChunkEvent,
  type MultiModalMessage,
  type ResultFrame,
  type RunErrorFrame,
  type RunFrame,
  type SelectSpeakerEvent,
  type ServerFrame,
  type StartedFrame,
  type QueuedFrame,
  type StartFrame,
  type StopFrame,
  type StopMessage,
  type StructuredMessage,
  type TaskResult,
  type TerminalFrame,
  type TextMessage,
  type ThoughtEvent,
  type TokenFrame,
  type ToolCallExecutionEvent,
  type ToolCallRequestEvent,
  type ToolCallSummaryMessage,
  type UnknownEvent,
  type UserInputRequestedEvent
} from 'fastify-autogen-stream'

interface Base {
  id: string
  source: string
  models_usage: { prompt_tokens: number, completion_tokens: number } | null
  metadata: Record<string, string>
  created_at: string
}

describe('schemas', () => {
  test('are TypeBox schemas', () => {
    expect(schemas.TextMessage).type.toBeAssignableTo<TSchema>()
    expect(schemas.TaskResult).type.toBeAssignableTo<TSchema>()
    expect(schemas.AutoGenEvent).type.toBeAssignableTo<TSchema>()
  })

  test('each Static type is the exported type of the same name', () => {
    expect<Static<typeof schemas.TextMessage>>().type.toBe<TextMessage>()
    expect<Static<typeof schemas.MultiModalMessage>>().type.toBe<MultiModalMessage>()
    expect<Static<typeof schemas.StopMessage>>().type.toBe<StopMessage>()
    expect<Static<typeof schemas.HandoffMessage>>().type.toBe<HandoffMessage>()
    expect<Static<typeof schemas.ToolCallSummaryMessage>>().type.toBe<ToolCallSummaryMessage>()
    expect<Static<typeof schemas.StructuredMessage>>().type.toBe<StructuredMessage>()
    expect<Static<typeof schemas.ToolCallRequestEvent>>().type.toBe<ToolCallRequestEvent>()
    expect<Static<typeof schemas.ToolCallExecutionEvent>>().type.toBe<ToolCallExecutionEvent>()
    expect<Static<typeof schemas.MemoryQueryEvent>>().type.toBe<MemoryQueryEvent>()
    expect<Static<typeof schemas.UserInputRequestedEvent>>().type.toBe<UserInputRequestedEvent>()
    expect<Static<typeof schemas.ModelClientStreamingChunkEvent>>().type.toBe<ModelClientStreamingChunkEvent>()
    expect<Static<typeof schemas.ThoughtEvent>>().type.toBe<ThoughtEvent>()
    expect<Static<typeof schemas.SelectSpeakerEvent>>().type.toBe<SelectSpeakerEvent>()
    expect<Static<typeof schemas.CodeGenerationEvent>>().type.toBe<CodeGenerationEvent>()
    expect<Static<typeof schemas.CodeExecutionEvent>>().type.toBe<CodeExecutionEvent>()
    expect<Static<typeof schemas.TaskResult>>().type.toBe<TaskResult>()
    expect<Static<typeof schemas.UnknownEvent>>().type.toBe<UnknownEvent>()
    expect<Static<typeof schemas.AutoGenEvent>>().type.toBe<AutoGenEvent>()
  })
})

describe('AutoGen message and event types', () => {
  test('TextMessage has the fields AutoGen dumps', () => {
    expect<TextMessage>().type.toBe<Base & { type: 'TextMessage', content: string }>()
  })

  test('ModelClientStreamingChunkEvent carries the chunk and its message id', () => {
    expect<ModelClientStreamingChunkEvent>().type.toBe<
      Base & { type: 'ModelClientStreamingChunkEvent', content: string, full_message_id: string | null }
    >()
  })

  test('UserInputRequestedEvent has an empty content and a request_id', () => {
    expect<UserInputRequestedEvent['content']>().type.toBe<''>()
    expect<UserInputRequestedEvent['request_id']>().type.toBe<string>()
  })

  test('StructuredMessage has an open type name and unknown content', () => {
    expect<StructuredMessage['type']>().type.toBe<string>()
    expect<StructuredMessage['content']>().type.toBe<unknown>()
  })

  test('TaskResult is tagged and ends every run', () => {
    expect<TaskResult>().type.toBe<{
      type: 'TaskResult'
      messages: Array<Record<string, unknown>>
      stop_reason: string | null
    }>()
  })

  test('UnknownEvent is any object with a string type', () => {
    expect<UnknownEvent['type']>().type.toBe<string>()
    expect<UnknownEvent>().type.toBe<{ type: string }>()
    expect<{ type: 'FutureEvent', payload: number[] }>().type.toBeAssignableTo<UnknownEvent>()
  })
})

describe('AutoGenEvent', () => {
  test('includes every known message and event, and TaskResult', () => {
    expect<TaskResult>().type.toBeAssignableTo<AutoGenEvent>()
    expect<
      | TextMessage | MultiModalMessage | StopMessage | HandoffMessage | ToolCallSummaryMessage | StructuredMessage
      | ToolCallRequestEvent | ToolCallExecutionEvent | MemoryQueryEvent | UserInputRequestedEvent
      | ModelClientStreamingChunkEvent | ThoughtEvent | SelectSpeakerEvent | CodeGenerationEvent | CodeExecutionEvent
      | TaskResult | UnknownEvent
    >().type.toBe<AutoGenEvent>()
  })

  test('narrows to TaskResult by its type tag', () => {
    expect<Extract<AutoGenEvent, { type: 'TaskResult' }>>().type.toBe<TaskResult>()
    expect<Extract<AutoGenEvent, { type: 'TextMessage' }>>().type.toBe<TextMessage>()
  })

  test('accepts any object with a string type, nothing else', () => {
    expect<{ type: 'FutureEvent', anything: boolean }>().type.toBeAssignableTo<AutoGenEvent>()
    expect<{ content: string }>().type.not.toBeAssignableTo<AutoGenEvent>()
    expect<{ type: number }>().type.not.toBeAssignableTo<AutoGenEvent>()
    expect<string>().type.not.toBeAssignableTo<AutoGenEvent>()
    expect<null>().type.not.toBeAssignableTo<AutoGenEvent>()
  })

  test('narrowing on type keeps the open members (StructuredMessage, UnknownEvent)', () => {
    // Because UnknownEvent and StructuredMessage have \`type: string\`, a
    // check of \`type\` does not narrow to one known event: Extract does.
    const narrow = (event: AutoGenEvent): void => {
      if (event.type === 'TextMessage') {
        expect(event).type.toBe<TextMessage | StructuredMessage | UnknownEvent>()
      }
      if (event.type === 'TaskResult') {
        expect(event).type.toBe<TaskResult | StructuredMessage | UnknownEvent>()
      }
    }
    expect(narrow).type.toBeCallableWith({ type: 'TaskResult', messages: [], stop_reason: null })
  })
})

describe('protocol constants', () => {
  test('PROTOCOL is the newest of PROTOCOLS', () => {
    expect(PROTOCOL).type.toBe<'autogen-stream.v2'>()
    expect(PROTOCOLS).type.toBe<readonly ['autogen-stream.v2', 'autogen-stream.v1']>()
    expect<ProtocolVersion>().type.toBe<'autogen-stream.v2' | 'autogen-stream.v1'>()
  })

  test('CancelReason is exactly the union of CANCEL_REASONS', () => {
    expect(CANCEL_REASONS).type.toBe<readonly ['client', 'disconnect', 'shutdown', 'slow_consumer', 'heartbeat', 'abandoned']>()
    expect<CancelReason>().type.toBe<(typeof CANCEL_REASONS)[number]>()
    expect<CancelReason>().type.toBe<'client' | 'disconnect' | 'shutdown' | 'slow_consumer' | 'heartbeat' | 'abandoned'>()
    expect<'timeout'>().type.not.toBeAssignableTo<CancelReason>()
  })
})

describe('client frames', () => {
  test('ClientFrame is discriminated by type', () => {
    expect<ClientFrame>().type.toBe<StartFrame | CancelFrame | StopFrame | InputFrame | AttachFrame | DetachFrame | ListFrame | ThreadFrame | DeleteThreadFrame>()
    expect<ClientFrame['type']>().type.toBe<'start' | 'cancel' | 'stop' | 'input' | 'attach' | 'detach' | 'list' | 'thread' | 'delete_thread'>()
  })

  test('thread and delete_thread name a threadId', () => {
    expect<ThreadFrame>().type.toBe<{ type: 'thread', threadId: string }>()
    expect<DeleteThreadFrame>().type.toBe<{ type: 'delete_thread', threadId: string }>()
    expect({ type: 'thread' as const }).type.not.toBeAssignableTo<ClientFrame>()
  })

  test('attach takes a position and an optional resume token; detach a runId; list nothing', () => {
    expect<AttachFrame>().type.toBe<{ type: 'attach', runId: string, after: number, resumeToken?: string }>()
    expect<DetachFrame>().type.toBe<{ type: 'detach', runId: string }>()
    expect<ListFrame>().type.toBe<{ type: 'list' }>()
    expect({ type: 'attach' as const, runId: 'r1' }).type.not.toBeAssignableTo<ClientFrame>()
  })

  test('StartFrame has a task (or, on a thread, an answer instead), an optional runId and optional options', () => {
    type Same<A, B> = [A] extends [B] ? [B] extends [A] ? true : false : false
    type WithTask = Extract<StartFrame, { task: unknown }>
    type WithAnswer = Exclude<StartFrame, WithTask>
    expect<Same<{ [K in keyof WithTask]: WithTask[K] }, {
      type: 'start'
      runId?: string
      task: string | Record<string, unknown> | Array<string | Record<string, unknown>>
      options?: Record<string, unknown>
      threadId?: string
      answer?: undefined
    }>>().type.toBe<true>()
    expect<Same<{ [K in keyof WithAnswer]: WithAnswer[K] }, {
      type: 'start'
      runId?: string
      options?: Record<string, unknown>
      threadId: string
      answer: { requestId: string, content: string }
      task?: undefined
    }>>().type.toBe<true>()
    expect({ type: 'start' as const, threadId: 'chat-1', answer: { requestId: 'q1', content: 'yes' } }).type.toBeAssignableTo<ClientFrame>()
    expect({ type: 'start' as const, answer: { requestId: 'q1', content: 'yes' } }).type.not.toBeAssignableTo<ClientFrame>()
    expect({ type: 'start' as const, threadId: 'chat-1', task: 'x', answer: { requestId: 'q1', content: 'yes' } }).type.not.toBeAssignableTo<ClientFrame>()
    expect({ type: 'start' as const, task: 'Write a haiku' }).type.toBeAssignableTo<ClientFrame>()
    expect({ type: 'start' as const, task: 'And another', threadId: 'chat-1' }).type.toBeAssignableTo<ClientFrame>()
    expect({ type: 'start' as const, runId: 'r1', task: [{ type: 'TextMessage', content: 'hi', source: 'user' }] }).type.toBeAssignableTo<ClientFrame>()
    expect({ type: 'start' as const }).type.not.toBeAssignableTo<ClientFrame>()
    expect({ type: 'start' as const, task: 42 }).type.not.toBeAssignableTo<ClientFrame>()
  })

  test('cancel, stop and input frames need their runId', () => {
    expect<CancelFrame>().type.toBe<{ type: 'cancel', runId: string }>()
    expect<StopFrame>().type.toBe<{ type: 'stop', runId: string }>()
    expect<InputFrame>().type.toBe<{ type: 'input', runId: string, requestId: string, content: string }>()
    expect({ type: 'cancel' as const }).type.not.toBeAssignableTo<ClientFrame>()
    expect({ type: 'input' as const, runId: 'r1', content: 'yes' }).type.not.toBeAssignableTo<ClientFrame>()
  })
})

describe('server frames', () => {
  test('ServerFrame is a RunFrame or a ConnectionErrorFrame, discriminated by type', () => {
    expect<ServerFrame>().type.toBe<RunFrame | ConnectionErrorFrame | AttachedFrame | DetachedFrame | RunsFrame | ThreadInfoFrame | ThreadDeletedFrame>()
    expect<ServerFrame['type']>().type.toBe<'started' | 'queued' | 'token' | 'event' | 'input_request' | 'result' | 'cancelled' | 'error' | 'interrupted' | 'attached' | 'detached' | 'runs' | 'thread' | 'thread_deleted'>()
    expect<RunFrame>().type.toBe<StartedFrame | QueuedFrame | TokenFrame | EventFrame | InputRequestFrame | ResultFrame | CancelledFrame | RunErrorFrame | InterruptedFrame>()
    expect<TerminalFrame>().type.toBe<ResultFrame | CancelledFrame | RunErrorFrame | InterruptedFrame>()
  })

  test('every RunFrame has runId and seq; a ConnectionErrorFrame has neither', () => {
    expect<RunFrame['runId']>().type.toBe<string>()
    expect<RunFrame['seq']>().type.toBe<number>()
    expect<ConnectionErrorFrame>().type.not.toHaveProperty('runId')
    expect<ConnectionErrorFrame>().type.not.toHaveProperty('seq')
    expect<ConnectionErrorFrame['ref']>().type.toBe<{ type?: string, runId?: string, requestId?: string, threadId?: string } | undefined>()
  })

  test('narrows on type', () => {
    const handle = (frame: ServerFrame): void => {
      switch (frame.type) {
        case 'started':
          expect(frame).type.toBe<StartedFrame>()
          expect(frame.resumeToken).type.toBe<string | undefined>()
          break
        case 'attached':
          expect(frame).type.toBe<AttachedFrame>()
          expect(frame.lastSeq).type.toBe<number>()
          break
        case 'detached':
          expect(frame.reason).type.toBe<'client' | 'lagging'>()
          break
        case 'runs':
          expect(frame.runs).type.toBe<RunSummary[]>()
          expect<RunSummary['state']>().type.toBe<'queued' | 'running' | 'ended'>()
          break
        case 'thread':
          expect(frame).type.toBe<ThreadInfoFrame>()
          expect(frame.runs).type.toBe<ThreadRunSummary[]>()
          expect(frame.usage).type.toBe<{ prompt_tokens: number, completion_tokens: number }>()
          break
        case 'thread_deleted':
          expect(frame).type.toBe<ThreadDeletedFrame>()
          break
        case 'queued':
          expect(frame).type.toBe<QueuedFrame>()
          expect(frame.position).type.toBe<number>()
          break
        case 'token':
          expect(frame).type.toBe<TokenFrame>()
          expect(frame.text).type.toBe<string>()
          expect(frame.chunks).type.toBe<number>()
          expect(frame.full_message_id).type.toBe<string | null>()
          break
        case 'event':
          expect(frame).type.toBe<EventFrame>()
          expect(frame.event).type.toBe<AutoGenEvent>()
          break
        case 'input_request':
          expect(frame).type.toBe<InputRequestFrame>()
          expect(frame.requestId).type.toBe<string>()
          expect(frame.prompt).type.toBe<string>()
          break
        case 'result':
          expect(frame).type.toBe<ResultFrame>()
          expect(frame.result).type.toBe<TaskResult>()
          expect(frame.stateError).type.toBe<StateError | undefined>()
          expect<StateError>().type.toBe<{ code: string, message: string }>()
          break
        case 'cancelled':
          expect(frame).type.toBe<CancelledFrame>()
          expect(frame.reason).type.toBe<CancelReason>()
          break
        case 'interrupted':
          expect(frame).type.toBe<InterruptedFrame>()
          expect(frame.threadId).type.toBe<string>()
          expect(frame.requestId).type.toBe<string>()
          expect(frame.prompt).type.toBe<string>()
          expect(frame.source).type.toBe<string | undefined>()
          break
        case 'error':
          expect(frame).type.toBe<RunErrorFrame | ConnectionErrorFrame>()
          expect(frame.code).type.toBe<string>()
          if ('runId' in frame) expect(frame).type.toBe<RunErrorFrame>()
          else expect(frame).type.toBe<ConnectionErrorFrame>()
          break
        default:
          expect(frame).type.toBe<never>()
      }
    }
    expect(handle).type.toBeCallableWith({ type: 'started', runId: 'r1', seq: 0 })
    expect(handle).type.not.toBeCallableWith({ type: 'started', runId: 'r1' })
    expect(handle).type.not.toBeCallableWith({ type: 'done', runId: 'r1', seq: 0 })
  })
})
