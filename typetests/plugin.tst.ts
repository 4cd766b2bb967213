/*
 * Type tests of the plugin as users register it. They import the package by
 * its own name, so they check the published declarations in dist/ (run
 * `npm run build` first).
 */
import fastify, { type FastifyInstance, type FastifyPluginAsync, type FastifyRequest } from 'fastify'
import type { WebsocketPluginOptions } from '@fastify/websocket'
import { describe, expect, test } from 'tstyche'
import autogenStream, {
  autogenStream as namedAutogenStream,
  pythonRunner,
  type AutoGenEvent,
  type Authenticate,
  type AuthorizeRun,
  type AutogenStreamOptions,
  type AutogenStreamSettings,
  type AutogenStreamView,
  type Counters,
  type RunContext,
  type Runner,
  type RunRequest,
  type TaskResult,
  type MetricsRegistry,
  type AgUiOptions
} from 'fastify-autogen-stream'
import { redisRuns, type RunsFactory } from 'fastify-autogen-stream/redis'
import { Registry, register } from 'prom-client'

const result: TaskResult = { type: 'TaskResult', messages: [], stop_reason: null }

describe('autogenStream', () => {
  test('is a Fastify async plugin over AutogenStreamOptions, also the default export', () => {
    expect(autogenStream).type.toBe(namedAutogenStream)
    expect(autogenStream).type.toBe<FastifyPluginAsync<AutogenStreamOptions>>()
  })

  test('AutogenStreamOptions: a runner, or runs held elsewhere, and these settings', () => {
    expect<AutogenStreamOptions>().type.toBe<AutogenStreamSettings & { runner?: Runner, runs?: RunsFactory }>()
    expect<AutogenStreamSettings>().type.toBe<{
      path?: string
      highWaterMark?: number
      maxBufferedBytes?: number
      maxRunsPerConnection?: number
      maxConnections?: number
      maxConnectionsPerIp?: number
      frameRate?: number
      frameBurst?: number
      maxActiveRuns?: number
      maxQueuedRuns?: number
      maxRunsPerIdentity?: number
      maxTaskBytes?: number
      maxPayload?: number
      maxBadFrames?: number
      maxFrameDepth?: number
      stallTimeout?: number
      pingInterval?: number
      idleTimeout?: number
      runTimeout?: number
      inputTimeout?: number
      holdInputFor?: number
      threadStateTimeout?: number
      closeGrace?: number
      coalesceTokens?: boolean
      maxTokenFrameChars?: number
      websocket?: WebsocketPluginOptions
      allowedOrigins?: string[] | ((origin: string, request: FastifyRequest) => boolean)
      authenticate?: Authenticate
      authorizeRun?: AuthorizeRun
      onDisconnect?: 'continue' | 'cancel'
      detachTimeout?: number
      maxRunLag?: { events?: number, bytes?: number }
      retainEvents?: number
      retainBytes?: number
      retainAfterEnd?: number
      maxWatchersPerRun?: number
      maxThreadStateBytes?: number
      threadRetention?: number
      maxThreadsPerIdentity?: number
      metrics?: MetricsRegistry
      tracing?: boolean
      agUi?: AgUiOptions | boolean
    }>()
  })

  test('agUi: true, or where and how (docs/ag-ui.md)', () => {
    expect<AgUiOptions>().type.toBe<{ path?: string, onDisconnect?: 'cancel' | 'continue', bodyLimit?: number }>()
    expect(autogenStream).type.toBeCallableWith(fastify(), { runner: async function * () {}, agUi: { path: '/agent', onDisconnect: 'continue' } })
    // @ts-expect-error Type '"close"' is not assignable
    fastify().register(autogenStream, { runner: async function * () {}, agUi: { onDisconnect: 'close' } })
  })

  test('onDisconnect is "continue" or "cancel"', () => {
    expect(autogenStream).type.toBeCallableWith(fastify(), { runner: async function * () {}, onDisconnect: 'cancel' })
    // @ts-expect-error Type '"keep"' is not assignable
    fastify().register(autogenStream, { runner: async function * () {}, onDisconnect: 'keep' })
  })
})

describe('app.register(autogenStream, options)', () => {
  const app = fastify()

  test('accepts an async generator function as runner, with typed request and context', () => {
    app.register(autogenStream, {
      async * runner (request, context) {
        expect(request).type.toBe<RunRequest>()
        expect(context).type.toBe<RunContext>()
        yield result
      }
    })
    expect(app.register).type.toBeCallableWith(autogenStream, { runner: async function * () { yield result } })
  })

  test('accepts a runner yielding events this version does not know', () => {
    expect(app.register).type.toBeCallableWith(autogenStream, {
      runner: async function * () {
        yield { type: 'FutureEvent', payload: [1, 2] }
        yield result
      }
    })
  })

  test('accepts a sync generator function and a function returning an array', () => {
    expect(app.register).type.toBeCallableWith(autogenStream, { runner: function * () { yield result } })
    expect(app.register).type.toBeCallableWith(autogenStream, { runner: (): AutoGenEvent[] => [result] })
  })

  test('accepts an object with run, init and close', () => {
    expect(app.register).type.toBeCallableWith(autogenStream, {
      runner: {
        async * run (request: RunRequest, context: RunContext) {
          context.log.info(request.key)
          yield result
        },
        init (log: FastifyInstance['log']) { log.info('ready') },
        async close () {}
      }
    })
    expect(app.register).type.toBeCallableWith(autogenStream, { runner: { run: function * () { yield result }, close () {} } })
    expect(app.register).type.toBeCallableWith(autogenStream, { runner: { run: () => [result] } })
  })

  test('accepts a pythonRunner', () => {
    expect(app.register).type.toBeCallableWith(autogenStream, { runner: pythonRunner({ factory: 'app.team:create' }) })
  })

  test('accepts every option, Fastify register options and an options function', () => {
    expect(app.register).type.toBeCallableWith(autogenStream, {
      runner: () => [result],
      path: '/agents',
      highWaterMark: 16,
      maxBufferedBytes: 1 << 20,
      maxRunsPerConnection: 2,
      maxPayload: 1024,
      maxBadFrames: 4,
      maxFrameDepth: 16,
      stallTimeout: 10_000,
      pingInterval: 0,
      idleTimeout: 60_000,
      runTimeout: 120_000,
      inputTimeout: 0,
      closeGrace: 500,
      coalesceTokens: false,
      maxTokenFrameChars: 4096,
      websocket: { options: { maxPayload: 2048, clientTracking: true } },
      prefix: '/v1',
      logLevel: 'warn'
    })
    expect(app.register).type.toBeCallableWith(autogenStream, (instance: FastifyInstance) => ({
      runner: () => [result],
      path: instance.prefix
    }))
  })

  test('takes runs instead of a runner (both, or neither, is refused at registration: test/options-validation)', () => {
    expect(app.register).type.toBeCallableWith(autogenStream, { runs: redisRuns({ url: 'redis://127.0.0.1:6379' }) })
  })

  test('a missing runner is a registration error, not a type error (runner or runs)', () => {
    expect(app.register).type.toBeCallableWith(autogenStream, { path: '/agents' })
  })

  test('rejects unknown option names', () => {
    // @ts-expect-error 'bogus' does not exist in type 'FastifyRegisterOptions<AutogenStreamOptions>'
    app.register(autogenStream, { runner: () => [result], bogus: 1 })
    // @ts-expect-error 'maxPayloadBytes' does not exist
    app.register(autogenStream, { runner: () => [result], maxPayloadBytes: 1024 })
    // @ts-expect-error 'heartbeat' does not exist
    app.register(autogenStream, { runner: () => [result], heartbeat: 1000 })
  })

  test('rejects options of the wrong type', () => {
    // @ts-expect-error Type 'number' is not assignable to type 'string'
    app.register(autogenStream, { runner: () => [result], path: 1 })
    // @ts-expect-error Type 'string' is not assignable to type 'number'
    app.register(autogenStream, { runner: () => [result], highWaterMark: '64' })
    // @ts-expect-error Type 'string' is not assignable to type 'number'
    app.register(autogenStream, { runner: () => [result], runTimeout: '1s' })
    // @ts-expect-error Type 'string' is not assignable to type 'boolean | undefined'
    app.register(autogenStream, { runner: () => [result], coalesceTokens: 'yes' })
    // @ts-expect-error Type 'string' is not assignable to type 'number'
    app.register(autogenStream, { runner: () => [result], websocket: { options: { maxPayload: '1kb' } } })
    // @ts-expect-error 'maxPayload' does not exist in type 'WebsocketPluginOptions'
    app.register(autogenStream, { runner: () => [result], websocket: { maxPayload: 1024 } })
  })

  test('rejects runners of the wrong shape', () => {
    // @ts-expect-error Type 'string' is not assignable to type 'Runner | undefined'
    app.register(autogenStream, { runner: 'app.team:create' })
    // @ts-expect-error Type '{}' is not assignable to type 'Runner | undefined'
    app.register(autogenStream, { runner: {} })
    // @ts-expect-error Property 'run' is missing
    app.register(autogenStream, { runner: { close () {} } })
    // @ts-expect-error Type 'number' is not assignable to type '() => void | Promise<void>'
    app.register(autogenStream, { runner: { run: () => [result], close: 1 } })
    // @ts-expect-error Type 'FastifyBaseLogger' is not assignable to type 'string'
    app.register(autogenStream, { runner: { run: () => [result], init: (log: string) => log } })
  })

  test('rejects runners that yield what is not an AutoGen event', () => {
    // @ts-expect-error Type 'number' is not assignable to type
    app.register(autogenStream, { runner: async function * () { yield 1 } })
    // @ts-expect-error Type '{ content: string; }' is not assignable to type
    app.register(autogenStream, { runner: async function * () { yield { content: 'hi' } } })
    // @ts-expect-error Type 'number' is not assignable to type 'string'
    app.register(autogenStream, { runner: function * () { yield { type: 42 } } })
  })

  test('rejects a runner returning a promise of events instead of an iterable', () => {
    // @ts-expect-error Type 'Promise<...[]>' is not assignable to type 'AsyncIterable<
    app.register(autogenStream, { runner: async () => [result] })
  })
})

describe('fastify.autogenStream', () => {
  const app = fastify()

  test('is the read-only AutogenStreamView', () => {
    expect(app).type.toHaveProperty('autogenStream')
    expect(app.autogenStream).type.toBe<AutogenStreamView>()
    expect<AutogenStreamView>().type.toBe<{
      readonly connections: number
      readonly runs: number
      readonly runsAttached: number
      readonly runsDetached: number
      readonly runsRetained: number
      readonly logBytes: number
      readonly threads: number
      readonly counters: Readonly<Counters>
    }>()
  })

  test('is also on encapsulated child instances', () => {
    app.register(async (child) => {
      expect(child.autogenStream).type.toBe<AutogenStreamView>()
    })
  })

  test('Counters has exactly these counters', () => {
    expect<Counters>().type.toBe<{
      connections: number
      runsStarted: number
      frames: number
      tokens: number
      bytes: number
      cancels: number
      errors: number
    }>()
  })

  test('cannot be assigned to, nor can its counters', () => {
    // @ts-expect-error Cannot assign to 'autogenStream' because it is a read-only property
    app.autogenStream = { connections: 0, runs: 0, counters: app.autogenStream.counters }
    // @ts-expect-error Cannot assign to 'runs' because it is a read-only property
    app.autogenStream.runs = 0
    // @ts-expect-error Cannot assign to 'runsDetached' because it is a read-only property
    app.autogenStream.runsDetached = 0
    // @ts-expect-error Cannot assign to 'connections' because it is a read-only property
    app.autogenStream.connections++
    // @ts-expect-error Cannot assign to 'counters' because it is a read-only property
    app.autogenStream.counters = { connections: 0, runsStarted: 0, frames: 0, tokens: 0, bytes: 0, cancels: 0, errors: 0 }
    // @ts-expect-error Cannot assign to 'frames' because it is a read-only property
    app.autogenStream.counters.frames = 0
    // @ts-expect-error Cannot assign to 'errors' because it is a read-only property
    app.autogenStream.counters.errors += 1
  })
})

describe('metrics and tracing', () => {
  test('metrics takes a prom-client Registry, its default register too; tracing a boolean', () => {
    expect(autogenStream).type.toBeCallableWith(fastify(), { runner: async function * () {}, metrics: new Registry() })
    expect(autogenStream).type.toBeCallableWith(fastify(), { runner: async function * () {}, metrics: register, tracing: false })
    expect(autogenStream).type.not.toBeCallableWith(fastify(), { runner: async function * () {}, metrics: { metrics: async () => '' } })
    expect(autogenStream).type.not.toBeCallableWith(fastify(), { runner: async function * () {}, tracing: 'on' })
  })

  test('pythonRunner has the metrics hook the plugin calls', () => {
    expect(pythonRunner({ factory: 'm:f' }).metrics).type.toBe<(registry: MetricsRegistry, promClient: unknown) => void>()
  })
})
