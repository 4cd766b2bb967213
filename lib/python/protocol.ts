import { Type, type Static, type TObject } from 'typebox'
import { Compile } from 'typebox/compile'

/*
 * The NDJSON protocol between Node and a Python worker, in one place: every
 * message as a TypeBox schema. Node types what it writes with these, and
 * validates every line the worker writes against them (a line is never
 * cast). python/autogen_stream_bridge/protocol.py mirrors them as
 * TypedDicts and docs/bridge.md as tables; test/bridge-protocol-one-source
 * holds both to this file, and runs Python's decoder on what Node encodes.
 *
 *   Node ──op──> stdin  [ worker ]  stdout ──ev──> Node
 *
 * `run` is always the server's key for the run, never a client's runId.
 */

const Run = Type.String({ minLength: 1 })
const Count = Type.Integer({ minimum: 0 })

// Node to Python ------------------------------------------------------------

export const Ops = {
  start: Type.Object({
    op: Type.Literal('start'),
    run: Run,
    /** The client's runId: shown to the factory (request.run_id), never a key. */
    run_id: Type.String(),
    task: Type.Unknown(),
    options: Type.Record(Type.String(), Type.Unknown()),
    /** Who started the run (the plugin's authenticate()): the factory's request.identity. */
    identity: Type.Record(Type.String(), Type.Unknown()),
    /**
     * A thread's run (RunRequest.thread): `state` is what the team's
     * save_state() gave at the end of the thread's previous run (loaded
     * before run_stream), null for its first. The worker then sends the
     * run's state (`state` or `state_error`) before its terminal event.
     * `answer`: the run goes on from an interrupted one (`interrupt`),
     * whose state `state` is, with `content` as the reply of `source`
     * (the UserProxyAgent that asked request_id).
     */
    thread: Type.Optional(Type.Object({
      state: Type.Unknown(),
      answer: Type.Optional(Type.Object({ request_id: Type.String(), content: Type.String(), source: Type.String() }))
    }))
  }),
  credit: Type.Object({ op: Type.Literal('credit'), run: Run, n: Type.Integer({ minimum: 1 }) }),
  cancel: Type.Object({ op: Type.Literal('cancel'), run: Run }),
  stop: Type.Object({ op: Type.Literal('stop'), run: Run }),
  input: Type.Object({ op: Type.Literal('input'), run: Run, request_id: Type.String(), content: Type.String() }),
  input_error: Type.Object({ op: Type.Literal('input_error'), run: Run, request_id: Type.String(), message: Type.String() }),
  /** A thread run's input request waited holdInputFor: end the run there, send its state, then `interrupted`. */
  interrupt: Type.Object({ op: Type.Literal('interrupt'), run: Run, request_id: Type.String() }),
  stats: Type.Object({ op: Type.Literal('stats'), id: Type.Integer() }),
  /** The heartbeat: answered by `pong` with the same id, from the worker's stdin reader. */
  ping: Type.Object({ op: Type.Literal('ping'), id: Type.Integer() }),
  shutdown: Type.Object({ op: Type.Literal('shutdown') })
} satisfies Record<string, TObject>

// Python to Node ------------------------------------------------------------

export const RunStatsSchema = Type.Object({ run_id: Type.String(), pulled: Count, credit: Count })

export const Events = {
  ready: Type.Object({ ev: Type.Literal('ready'), pid: Type.Integer(), python: Type.String(), autogen: Type.String() }),
  /** One item of run_stream(): any AutoGen message or event, or the tagged TaskResult. */
  item: Type.Object({ ev: Type.Literal('item'), run: Run, item: Type.Object({ type: Type.String() }) }),
  /**
   * Consecutive plain ModelClientStreamingChunkEvents of one run and message,
   * one per `content` entry, in order: each is one item (one credit). Node
   * makes each a chunk event of these four fields, all a token frame shows.
   */
  chunks: Type.Object({
    ev: Type.Literal('chunks'),
    run: Run,
    source: Type.String(),
    full_message_id: Type.Union([Type.String(), Type.Null()]),
    content: Type.Array(Type.String(), { minItems: 1 })
  }),
  /** `source`: the asking UserProxyAgent, only when the run could go on from this request after an `interrupt`. */
  input_request: Type.Object({ ev: Type.Literal('input_request'), run: Run, request_id: Type.String(), prompt: Type.String(), source: Type.Optional(Type.String()) }),
  end: Type.Object({ ev: Type.Literal('end'), run: Run }),
  cancelled: Type.Object({ ev: Type.Literal('cancelled'), run: Run }),
  /** The run ended at input request request_id (`interrupt`), after its `state`. */
  interrupted: Type.Object({ ev: Type.Literal('interrupted'), run: Run, request_id: Type.String() }),
  /** `message` may reach the client; `detail` (the full error) is for the server log only. */
  error: Type.Object({ ev: Type.Literal('error'), run: Run, code: Type.String({ minLength: 1 }), message: Type.String(), detail: Type.Optional(Type.String()) }),
  /** A thread's run is over (after its TaskResult, or once a cancel unwound it): the team's save_state(), before the terminal event. */
  state: Type.Object({ ev: Type.Literal('state'), run: Run, state: Type.Unknown() }),
  /** Instead of `state`: why it could not be sent (too large for a line, save_state() failed). The run keeps its own outcome. */
  state_error: Type.Object({ ev: Type.Literal('state_error'), run: Run, code: Type.String({ minLength: 1 }), message: Type.String(), detail: Type.Optional(Type.String()) }),
  stats: Type.Object({
    ev: Type.Literal('stats'),
    id: Type.Union([Type.Integer(), Type.Null()]),
    active: Count,
    /** By run key. */
    runs: Type.Record(Type.String(), RunStatsSchema),
    pulled_total: Count,
    started_total: Count,
    /** Keys of the runs most recently cancelled in Python (at most 1000). */
    cancelled: Type.Array(Type.String())
  }),
  pong: Type.Object({ ev: Type.Literal('pong'), id: Type.Integer() }),
  fatal: Type.Object({ ev: Type.Literal('fatal'), message: Type.String() })
} satisfies Record<string, TObject>

export type WorkerOp = { [K in keyof typeof Ops]: Static<typeof Ops[K]> }[keyof typeof Ops]
export type WorkerEvent = { [K in keyof typeof Events]: Static<typeof Events[K]> }[keyof typeof Events]
export type WorkerStats = Static<typeof Events.stats>
/** Events about one run: they name it in `run`. */
export type RunEvent = Extract<WorkerEvent, { run: string }>

const checks = Object.fromEntries(Object.entries(Events).map(([name, schema]) => [name, Compile(schema)])) as
  { [K in keyof typeof Events]: ReturnType<typeof Compile<typeof Events[K]>> }

/**
 * A parsed line from the worker, checked: the event, or why it is not one.
 * Objects the worker adds fields to still pass (additional properties are
 * allowed, as for AutoGen's own messages).
 */
export function checkEvent (value: unknown): { event: WorkerEvent } | { reason: string } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { reason: 'not a JSON object' }
  const ev = (value as { ev?: unknown }).ev
  if (typeof ev !== 'string' || !Object.hasOwn(checks, ev)) return { reason: `unknown ev ${JSON.stringify(ev)}` }
  const check = checks[ev as keyof typeof checks]
  if (check.Check(value)) return { event: value as WorkerEvent }
  const first = check.Errors(value)[0]
  return { reason: `${ev}: ${first === undefined ? 'does not match' : `${first.instancePath === '' ? '' : `${first.instancePath} `}${first.message}`}` }
}
