import type { FastifyBaseLogger, FastifyRequest } from 'fastify'
import type { AutoGenEvent } from './schemas/events.js'
import type { Task } from './schemas/frames.js'
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
  /** The start's task; for a start with an answer (thread.answer), the answer's content. */
  task: Task
  options: Record<string, unknown>
  /**
   * The run belongs to a thread (a `start` with `threadId`; only for a
   * runner with `threads: true`). `state` is what the thread's previous run
   * gave context.saveState() (a fresh copy, parsed from the stored JSON),
   * undefined for the thread's first run: load it before running, save the
   * new one when the run is over.
   */
  thread?: RunThread
}

export interface RunThread {
  /** The client's threadId: unique only among its owner's threads. Show it; never key shared state by it. */
  id: string
  state: unknown
  /**
   * Runners with `interrupts: true`: the thread's last run was interrupted
   * at an input request (its `interrupted` frame), and this run brings the
   * answer. `state` is the one saved then: continue from it with `content`
   * as what requestInput() would have returned to `source`.
   */
  answer?: ThreadAnswer
}

export interface ThreadAnswer {
  requestId: string
  content: string
  /** The interrupted request's prompt. */
  prompt: string
  /** Who asked, as the runner said in requestInput()'s options (the UserProxyAgent's name). */
  source?: string
}

export interface InputRequestOptions {
  /** Defaults to a random UUID; the Python bridge passes AutoGen's own request_id. */
  requestId?: string
  /** Overrides the plugin's inputTimeout for this request (ms, 0: none). */
  timeout?: number
  /** Who asks (pythonRunner: the UserProxyAgent's name): shown in the `interrupted` frame and given back in thread.answer. */
  source?: string
  /**
   * Runners with `interrupts: true`, runs of a thread: false when the run
   * could not go on from this request after an interrupt; it then waits as
   * any other (up to inputTimeout). Default true.
   */
  interruptible?: boolean
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
   * run is cancelled or the input timeout passes; and, in a thread's run of
   * a runner with `interrupts: true`, with AGS_INPUT_INTERRUPTED
   * (InputInterruptedError) once it waited holdInputFor: see `interrupts`.
   */
  requestInput: (prompt: string, options?: InputRequestOptions) => Promise<string>
  /** The upgrade request of the connection that started the run (headers, user, ...). */
  request: FastifyRequest
  /** Who started the run (authenticate()'s identity; without it, `{ id: 'anonymous:<uuid>', anonymous: true }` per connection). */
  identity: Identity
  log: FastifyBaseLogger
  /**
   * Threads (request.thread): the state to keep for the thread's next run.
   * Call it once the run is over (its TaskResult, a stop, or after the
   * abort signal fired), before the iterator ends or its return()
   * settles: a thread run's terminal frame waits for that. The last call
   * wins. A state JSON cannot hold, or over maxThreadStateBytes, is not
   * kept: the thread keeps its previous state and the terminal frame says
   * why (`stateError`). Without a thread it does nothing.
   */
  saveState: (state: unknown) => void
  /** Threads: the runner could not make the state (its code and message reach the client in the terminal frame's `stateError`); the thread keeps its previous state. */
  reportStateError: (code: string, message: string) => void
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
  /**
   * True when run() keeps threads: it loads request.thread.state and calls
   * context.saveState() (pythonRunner: AutoGen's load_state/save_state).
   * Without it, a `start` with a threadId gets AGS_THREAD_UNSUPPORTED.
   */
  threads?: boolean
  /**
   * True when run() can end a thread's run at an input request and go on
   * from there in a later run (pythonRunner). Once such a request has
   * waited holdInputFor, requestInput() rejects with AGS_INPUT_INTERRUPTED:
   * the runner then stops where it waits, calls context.saveState() with a
   * state from which a run given request.thread.answer goes on, and ends
   * its iterator (returns, or throws that error). The run's terminal frame
   * is `interrupted`: waiting for the human, holding nothing. A runner
   * without it keeps waiting, as every run without a thread does.
   */
  interrupts?: boolean
}

export type Runner = RunFunction | RunnerObject

export function toRunnerObject (runner: Runner): RunnerObject {
  return typeof runner === 'function' ? { run: runner } : runner
}
