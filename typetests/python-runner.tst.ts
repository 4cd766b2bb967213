/*
 * Type tests of pythonRunner(): its options and the runner it returns.
 * Imports the published declarations (run `npm run build` first).
 */
import fastify, { type FastifyBaseLogger } from 'fastify'
import { describe, expect, test } from 'tstyche'
import autogenStream, {
  pythonRunner,
  type PythonRunner,
  type PythonRunnerOptions,
  type Runner,
  type RunnerObject,
  type RunFunction,
  type WorkerStats
} from 'fastify-autogen-stream'

describe('pythonRunner(options)', () => {
  test('takes PythonRunnerOptions and returns a PythonRunner', () => {
    expect(pythonRunner).type.toBe<(options: PythonRunnerOptions) => PythonRunner>()
  })

  test('PythonRunnerOptions has exactly these options, factory required', () => {
    expect<PythonRunnerOptions>().type.toBe<{
      factory: string
      python?: string
      workers?: number
      credit?: number
      cwd?: string
      pythonPath?: string[]
      passEnv?: string[]
      env?: Record<string, string>
      readyTimeout?: number
      maxLineBytes?: number
      maxImagePixels?: number
      maxImageBytes?: number
      maxQueuedBytes?: number
      shutdownTimeout?: number
      heartbeatInterval?: number
      heartbeatTimeout?: number
      logger?: FastifyBaseLogger
    }>()
  })

  test('accepts a factory alone, or with every option', () => {
    expect(pythonRunner).type.toBeCallableWith({ factory: 'app.team:create' })
    expect(pythonRunner).type.toBeCallableWith({
      factory: 'app.team:create',
      python: '/usr/bin/python3',
      workers: 4,
      credit: 32,
      cwd: '/srv/app',
      pythonPath: ['/srv/lib'],
      env: { OPENAI_API_KEY: 'sk-test' },
      readyTimeout: 30_000,
      maxLineBytes: 1 << 20,
      maxImagePixels: 1024 * 1024,
      maxImageBytes: 1 << 20,
      shutdownTimeout: 1000,
      heartbeatInterval: 500,
      heartbeatTimeout: 10_000,
      logger: fastify().log
    })
  })

  test('requires the factory', () => {
    expect(pythonRunner).type.not.toBeCallableWith()
    expect(pythonRunner).type.not.toBeCallableWith({})
    expect(pythonRunner).type.not.toBeCallableWith({ workers: 2 })
    // @ts-expect-error Property 'factory' is missing in type '{ workers: number; }' but required in type 'PythonRunnerOptions'
    pythonRunner({ workers: 2 })
  })

  test('rejects options of the wrong type', () => {
    // @ts-expect-error Type '() => void' is not assignable to type 'string'
    pythonRunner({ factory: () => {} })
    // @ts-expect-error Type 'string' is not assignable to type 'number'
    pythonRunner({ factory: 'app.team:create', workers: '2' })
    // @ts-expect-error Type 'string' is not assignable to type 'number'
    pythonRunner({ factory: 'app.team:create', readyTimeout: '60s' })
    // @ts-expect-error Type 'string' is not assignable to type 'string[]'
    pythonRunner({ factory: 'app.team:create', pythonPath: '/srv/lib' })
    // @ts-expect-error Type 'number' is not assignable to type 'string'
    pythonRunner({ factory: 'app.team:create', env: { WORKERS: 2 } })
    // @ts-expect-error Type 'Console' is missing the following properties from type 'FastifyBaseLogger'
    pythonRunner({ factory: 'app.team:create', logger: console })
  })

  test('rejects unknown option names', () => {
    // @ts-expect-error 'module' does not exist in type 'PythonRunnerOptions'
    pythonRunner({ factory: 'app.team:create', module: 'app.team' })
    // @ts-expect-error 'timeout' does not exist in type 'PythonRunnerOptions'
    pythonRunner({ factory: 'app.team:create', timeout: 1000 })
  })
})

describe('PythonRunner', () => {
  const runner = pythonRunner({ factory: 'app.team:create' })

  test('is a RunnerObject, so a Runner the plugin accepts', () => {
    expect(runner).type.toBeAssignableTo<RunnerObject>()
    expect(runner).type.toBeAssignableTo<Runner>()
    expect(fastify().register).type.toBeCallableWith(autogenStream, { runner })
  })

  test('has run, and init, start and close that are always there', () => {
    expect(runner.run).type.toBe<RunFunction>()
    expect(runner.init).type.toBe<(log: FastifyBaseLogger) => void>()
    expect(runner.start).type.toBe<() => Promise<void>>()
    expect(runner.close).type.toBe<() => Promise<void>>()
  })

  test('has read-only pids and loads', () => {
    expect(runner.pids).type.toBe<ReadonlyArray<number | undefined>>()
    expect(runner.loads).type.toBe<readonly number[]>()
    // @ts-expect-error Cannot assign to 'pids' because it is a read-only property
    runner.pids = []
    // @ts-expect-error Cannot assign to 'loads' because it is a read-only property
    runner.loads = []
  })

  test('has stats() and ready()', () => {
    expect(runner.stats()).type.toBe<Promise<Array<WorkerStats | null>>>()
    expect(runner.ready()).type.toBe<Promise<void>>()
    expect(runner.stats).type.not.toBeCallableWith(0)
  })

  test('WorkerStats are the counters of one worker', () => {
    expect<WorkerStats>().type.toBe<{
      ev: 'stats'
      id: number | null
      active: number
      runs: Record<string, { run_id: string, pulled: number, credit: number }>
      pulled_total: number
      started_total: number
      cancelled: string[]
    }>()
  })

  test('has exactly these members', () => {
    expect<keyof PythonRunner>().type.toBe<'run' | 'init' | 'start' | 'close' | 'pids' | 'loads' | 'stats' | 'ready' | 'metrics' | 'threads' | 'interrupts'>()
  })

  test('keeps threads: its workers load and save AutoGen state', () => {
    expect<PythonRunner['threads']>().type.toBe<true>()
  })

  test('interrupts: its workers end a thread run at a question and go on from the answer', () => {
    expect<PythonRunner['interrupts']>().type.toBe<true>()
  })
})
