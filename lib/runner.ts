import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import type { AutoGenEvent } from './schemas/events.js'
import type { StartFrame } from './schemas/frames.js'
import type { MetricsRegistry } from './observe.js'

/** Who started a run: what the app's authenticate() returned, or an anonymous identity per connection. JSON-serialisable. */
export interface Identity {
  id: string
  [key: string]: unknown
}

/** What a client asked for, as the runner sees it. */
export interface RunRequest {
  /** The client's id for the run: unique only on its connection, and chosen by the client. Show it; never key shared state by it. */
  runId: string
  /** Made by the server, unique on it: the id to key anything shared by (worker runs, logs, stores). */
  key: string
  task: StartFrame['task']
  options: Record<string, unknown>
}

export interface InputRequestOptions {
  /** Defaults to a random UUID; the Python bridge passes AutoGen's own request_id. */
  requestId?: string
  /** Overrides the plugin's inputTimeout for this request (ms, 0: none). */
  timeout?: number
}

export interface RunContext {
  /** Fires when the client cancels, disconnects, the run times out or the server shuts down. */
  signal: AbortSignal
  /**
   * Fires when the client asks for a graceful stop (`stop` frame): finish the
   * current step and end with a normal TaskResult. A runner that cannot stop
   * gracefully may ignore it; the client can still cancel.
   */
  stopSignal: AbortSignal
  /**
   * Asks the client for input (human in the loop): sends an `input_request`
   * frame and resolves with the client's `input` content. Rejects when the
   * run is cancelled or the input timeout passes.
   */
  requestInput: (prompt: string, options?: InputRequestOptions) => Promise<string>
  /** The upgrade request of the connection that started the run (headers, user, ...). */
  request: FastifyRequest
  /** Who started the run (authenticate()'s identity; without it, `{ id: 'anonymous:<uuid>', anonymous: true }` per connection). */
  identity: Identity
  log: FastifyBaseLogger
}

export type RunFunction = (request: RunRequest, context: RunContext) => AsyncIterable<AutoGenEvent> | Iterable<AutoGenEvent>

/** A runner with resources of its own (a worker pool, say): `close()` is awaited in fastify.close(). */
export interface RunnerObject {
  run: RunFunction
  /** Called once at registration with the app's logger. */
  init?: (log: FastifyBaseLogger) => void
  /** Awaited by app.ready(): reject to fail the app's start-up (pythonRunner: its Python cannot start a worker). */
  start?: () => Promise<void>
  close?: () => Promise<void> | void
  /**
   * Called once at registration when the plugin has a `metrics` registry,
   * with that registry and the prom-client module the plugin loaded (so a
   * runner never imports prom-client itself): register the runner's own
   * metrics there (pythonRunner: worker processes, restarts, credit stalls).
   */
  metrics?: (registry: MetricsRegistry, promClient: unknown) => void
}

export type Runner = RunFunction | RunnerObject

export function toRunnerObject (runner: Runner): RunnerObject {
  return typeof runner === 'function' ? { run: runner } : runner
}
