/*
 * Type tests of what a runner is given and may return, and of RunError.
 * Imports the published declarations (run `npm run build` first).
 */
import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import { describe, expect, test } from 'tstyche'
import {
  ErrorTable,
  RunError,
  type AutoGenEvent,
  type ErrorCode,
  type Identity,
  type InputRequestOptions,
  type RunContext,
  type Runner,
  type RunnerObject,
  type RunFunction,
  type RunRequest,
  type RunThread,
  type ThreadAnswer,
  type Task,
  type StartFrame,
  type TaskResult,
  type TextMessage,
  type MetricsRegistry
} from 'fastify-autogen-stream'

const result: TaskResult = { type: 'TaskResult', messages: [], stop_reason: null }
declare const context: RunContext

describe('RunRequest', () => {
  test('has exactly runId, key, task, options and an optional thread', () => {
    expect<RunRequest>().type.toBe<{
      runId: string
      key: string
      task: string | Record<string, unknown> | Array<string | Record<string, unknown>>
      options: Record<string, unknown>
      thread?: RunThread
    }>()
  })

  test('a thread is its client id, the state its previous run saved (unknown: whatever JSON the runner saved), and the answer that continues an interrupted run', () => {
    expect<RunThread>().type.toBe<{ id: string, state: unknown, answer?: ThreadAnswer }>()
    expect<ThreadAnswer>().type.toBe<{ requestId: string, content: string, prompt: string, source?: string }>()
  })

  test('task is the task of a start frame (never absent: a start with an answer has its content as task)', () => {
    expect<RunRequest['task']>().type.toBe<Task>()
    expect<RunRequest['task']>().type.toBe<Exclude<StartFrame['task'], undefined>>()
  })
})

describe('RunContext', () => {
  test('has exactly signal, stopSignal, requestInput, request, identity, log, saveState and reportStateError', () => {
    expect<RunContext>().type.toBe<{
      signal: AbortSignal
      stopSignal: AbortSignal
      requestInput: (prompt: string, options?: InputRequestOptions) => Promise<string>
      request: FastifyRequest
      identity: Identity
      log: FastifyBaseLogger
      saveState: (state: unknown) => void
      reportStateError: (code: string, message: string) => void
    }>()
    expect<Identity>().type.toBe<{ id: string, [key: string]: unknown }>()
  })

  test('signal and stopSignal are AbortSignals', () => {
    expect(context.signal).type.toBe<AbortSignal>()
    expect(context.stopSignal).type.toBe<AbortSignal>()
  })

  test('requestInput takes a prompt and options, and resolves with a string', () => {
    expect(context.requestInput('Approve?')).type.toBe<Promise<string>>()
    expect(context.requestInput).type.toBeCallableWith('Approve?', { requestId: 'r1', timeout: 0 })
    expect(context.requestInput).type.toBeCallableWith('Approve?', {})
    expect(context.requestInput).type.not.toBeCallableWith()
    expect(context.requestInput).type.not.toBeCallableWith(42)
    expect(context.requestInput).type.not.toBeCallableWith('Approve?', { timeout: '5s' })
    expect(context.requestInput).type.not.toBeCallableWith('Approve?', { requestId: 7 })
    expect(context.requestInput).type.not.toBeCallableWith('Approve?', { timeoutMs: 5000 })
  })

  test('InputRequestOptions has exactly requestId, timeout, source and interruptible, all optional', () => {
    expect<InputRequestOptions>().type.toBe<{ requestId?: string, timeout?: number, source?: string, interruptible?: boolean }>()
  })

  test('request is the FastifyRequest of the upgrade, log a Fastify logger', () => {
    expect(context.request).type.toBe<FastifyRequest>()
    expect(context.request.headers['sec-websocket-protocol']).type.toBe<string | undefined>()
    expect(context.log).type.toBe<FastifyBaseLogger>()
  })
})

describe('RunFunction, RunnerObject and Runner', () => {
  test('RunFunction maps a request and a context to events, async or not', () => {
    expect<RunFunction>().type.toBe<(request: RunRequest, context: RunContext) => AsyncIterable<AutoGenEvent> | Iterable<AutoGenEvent>>()
  })

  test('RunnerObject has run, and optional init, start, close, metrics, threads and interrupts', () => {
    expect<RunnerObject>().type.toBe<{
      run: RunFunction
      init?: (log: FastifyBaseLogger) => void
      start?: () => Promise<void>
      close?: () => Promise<void> | void
      metrics?: (registry: MetricsRegistry, promClient: unknown) => void
      threads?: boolean
      interrupts?: boolean
    }>()
  })

  test('a runner that keeps threads saves any value; a code and message report why it could not', () => {
    expect({ threads: true, run: () => [result] }).type.toBeAssignableTo<RunnerObject>()
    expect({ threads: 'yes', run: () => [result] }).type.not.toBeAssignableTo<RunnerObject>()
    expect(context.saveState).type.toBeCallableWith({ agent_states: {} })
    expect(context.reportStateError).type.toBeCallableWith('STATE', 'no state')
    expect(context.reportStateError).type.not.toBeCallableWith(new Error('no state'))
  })

  test('Runner is a RunFunction or a RunnerObject', () => {
    expect<Runner>().type.toBe<RunFunction | RunnerObject>()
  })

  test('generators and iterables are RunFunctions', () => {
    expect(async function * (request: RunRequest) { yield { type: 'Custom', runId: request.runId }; yield result }).type.toBeAssignableTo<RunFunction>()
    expect(function * () { yield result }).type.toBeAssignableTo<RunFunction>()
    expect(() => [result]).type.toBeAssignableTo<RunFunction>()
    expect<() => AsyncGenerator<TextMessage | TaskResult>>().type.toBeAssignableTo<RunFunction>()
  })

  test('what does not yield events is not a RunFunction', () => {
    expect(async () => [result]).type.not.toBeAssignableTo<RunFunction>()
    expect(async function * () { yield 'text' }).type.not.toBeAssignableTo<RunFunction>()
    expect(function * () { yield { content: 'no type' } }).type.not.toBeAssignableTo<RunFunction>()
    expect((request: string) => [request]).type.not.toBeAssignableTo<RunFunction>()
  })

  test('a RunnerObject needs run, and init and close must be functions', () => {
    expect({ run: () => [result] }).type.toBeAssignableTo<RunnerObject>()
    expect({ run: () => [result], init: () => {}, close: async () => {} }).type.toBeAssignableTo<Runner>()
    expect({ close: async () => {} }).type.not.toBeAssignableTo<Runner>()
    expect({ run: () => [result], close: true }).type.not.toBeAssignableTo<Runner>()
    expect({ run: () => [result], init: (level: number) => level }).type.not.toBeAssignableTo<Runner>()
  })
})

describe('RunError', () => {
  test('is an Error with a readonly string code', () => {
    const err = new RunError('QUOTA', 'Quota exceeded')
    expect(err).type.toBeAssignableTo<Error>()
    expect(err.code).type.toBe<string>()
    expect(err.message).type.toBe<string>()
    // @ts-expect-error Cannot assign to 'code' because it is a read-only property
    err.code = 'OTHER'
  })

  test('is constructed with a code, a message and an optional cause', () => {
    expect(RunError).type.toBeConstructableWith('QUOTA', 'Quota exceeded')
    expect(RunError).type.toBeConstructableWith('QUOTA', 'Quota exceeded', { cause: new Error('429') })
    expect(RunError).type.not.toBeConstructableWith('Quota exceeded')
    expect(RunError).type.not.toBeConstructableWith(429, 'Quota exceeded')
    expect(RunError).type.not.toBeConstructableWith('QUOTA', 'Quota exceeded', 'cause')
  })

  test('is thrown and caught as an Error', () => {
    try {
      throw new RunError('QUOTA', 'Quota exceeded')
    } catch (err) {
      if (err instanceof RunError) expect(err.code).type.toBe<string>()
    }
  })
})

describe('ErrorTable and ErrorCode', () => {
  test('ErrorCode is the codes of ErrorTable', () => {
    expect<ErrorCode>().type.toBe<keyof typeof ErrorTable>()
    expect<'QUOTA'>().type.not.toBeAssignableTo<ErrorCode>()
    expect<string>().type.not.toBeAssignableTo<ErrorCode>()
  })

  test('no code of the protocol is removed or renamed (new ones may be added)', () => {
    expect<
      | 'AGS_INVALID_OPTION'
      | 'AGS_ALREADY_REGISTERED'
      | 'AGS_BAD_JSON'
      | 'AGS_BAD_FRAME'
      | 'AGS_BINARY_FRAME'
      | 'AGS_FRAME_TOO_LARGE'
      | 'AGS_TOO_MANY_BAD_FRAMES'
      | 'AGS_TOO_MANY_RUNS'
      | 'AGS_DUPLICATE_RUN_ID'
      | 'AGS_UNKNOWN_RUN'
      | 'AGS_UNKNOWN_REQUEST'
      | 'AGS_RESUME_GAP'
      | 'AGS_ALREADY_ATTACHED'
      | 'AGS_TOO_MANY_WATCHERS'
      | 'AGS_UNSUPPORTED_PROTOCOL'
      | 'AGS_RUNNER_ERROR'
      | 'AGS_RUNNER_NO_RESULT'
      | 'AGS_INVALID_EVENT'
      | 'AGS_RUN_TIMEOUT'
      | 'AGS_INPUT_TIMEOUT'
      | 'AGS_RUN_CANCELLED'
      | 'AGS_FACTORY_ERROR'
      | 'AGS_TASK_ERROR'
      | 'AGS_BAD_REQUEST'
      | 'AGS_IMAGE_TOO_LARGE'
      | 'AGS_ITEM_TOO_LARGE'
      | 'AGS_LINE_TOO_LONG'
      | 'AGS_BAD_LINE'
      | 'AGS_BAD_OP'
      | 'AGS_DUPLICATE_RUN'
      | 'AGS_STOPPED'
      | 'AGS_WORKER_CANCELLED'
      | 'AGS_WORKER_DIED'
      | 'AGS_WORKER_UNAVAILABLE'
      | 'AGS_WORKER_POOL_CLOSED'
      | 'AGS_SLOW_CONSUMER'
      | 'AGS_HEARTBEAT_TIMEOUT'
      | 'AGS_IDLE_TIMEOUT'
      | 'AGS_SHUTDOWN'
    >().type.toBeAssignableTo<ErrorCode>()
  })

  test('every entry has a message, a status and a close code', () => {
    expect<(typeof ErrorTable)[ErrorCode]>().type.toBeAssignableTo<{ readonly message: string, readonly status: number, readonly close: number }>()
  })

  test('entries are readonly literals', () => {
    expect(ErrorTable.AGS_SHUTDOWN.close).type.toBe<1001>()
    expect(ErrorTable.AGS_SHUTDOWN.status).type.toBe<503>()
    expect(ErrorTable.AGS_SLOW_CONSUMER.close).type.toBe<4008>()
    expect(ErrorTable.AGS_TOO_MANY_BAD_FRAMES.close).type.toBe<1008>()
    expect(ErrorTable.AGS_RUN_TIMEOUT.close).type.toBe<0>()
    // @ts-expect-error Cannot assign to 'close' because it is a read-only property
    ErrorTable.AGS_SHUTDOWN.close = 1000
    // @ts-expect-error Cannot assign to 'AGS_SHUTDOWN' because it is a read-only property
    ErrorTable.AGS_SHUTDOWN = { ...ErrorTable.AGS_SHUTDOWN }
  })

  test('RunError.of makes a RunError of a code of the table', () => {
    expect(RunError.of('AGS_RUN_TIMEOUT', [1000])).type.toBe<RunError>()
    expect(RunError.of).type.toBeCallableWith('AGS_RUNNER_ERROR')
    expect(RunError.of).type.toBeCallableWith('AGS_INPUT_TIMEOUT', ['r1', 5000], { cause: new Error('timeout') })
    expect(RunError.of).type.not.toBeCallableWith('QUOTA')
    expect(RunError.of).type.not.toBeCallableWith('AGS_RUN_TIMEOUT', 1000)
  })
})
