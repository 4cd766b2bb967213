import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { identityOf, authenticateRequest } from '../auth.js'
import type { PluginState } from '../connection.js'
import type { SharedRun } from '../directory.js'
import {
  BadInputError, BodyTooLargeError, ForbiddenOriginError, ResumeGapError, StoreUnavailableError, TaskTooLargeError,
  ThreadUnsupportedError, TooManyConnectionsError, TooManyConnectionsFromIpError, UnknownRequestError, UnknownRunError, type AutogenStreamError
} from '../errors.js'
import { nestsDeeperThan } from '../json-depth.js'
import type { Config } from '../options.js'
import { originAllowed } from '../origin.js'
import { refuse } from '../refuse.js'
import type { Identity } from '../runner.js'
import { LogGapError } from '../store/types.js'
import type { RunTracer } from '../tracing.js'
import { PROTOCOL, type StartFrame } from '../schemas/frames.js'
import { Checkpoints } from './checkpoints.js'
import { toStart } from './input.js'
import { parseResumePoint, SseResponse, type ResumePoint } from './sse.js'
import { AgUiStream, RESUME_TOKEN_HEADER, type AgUiRun } from './stream.js'

/*
 * The AG-UI endpoint (docs/ag-ui.md), beside the WebSocket route and over
 * the same runs:
 *
 *   POST   path               RunAgentInput ─▶ RunDirectory.start ─▶ SSE of the run (stream.ts)
 *   GET    path/runs/:runId   Last-Event-ID (or ?after=) ─▶ RunDirectory.find ─▶ SSE from there
 *   DELETE path/runs/:runId   ─▶ the run is cancelled
 *   POST   path/runs/:runId/input   { requestId, content } ─▶ answers the run's input request
 *
 * Before anything is parsed: connection limits (a stream holds a slot as
 * a socket does), the Origin, authenticate(). Runs belong to identities
 * exactly as on the socket: a GET or DELETE finds only the identity's own
 * run, or the one whose resume token it presents (the POST's answer has
 * it, in the autogen-stream-resume-token header); for anything else the
 * answer is the same 404.
 */

const kIdentity = Symbol('autogenStream.agUi.identity')

interface RunParams { runId: string }

export class AgUiRoute {
  readonly #state: PluginState
  readonly #opts: NonNullable<Config['agUi']>
  readonly #tracer: RunTracer | undefined
  readonly #streams = new Set<AgUiStream>()
  /** The runs this route started, with what their AG-UI events need. Kept as long as the run is. */
  readonly #runs = new WeakMap<SharedRun, AgUiRun>()

  constructor (state: PluginState, opts: NonNullable<Config['agUi']>, tracer: RunTracer | undefined) {
    this.#state = state
    this.#opts = opts
    this.#tracer = tracer
  }

  /** The routes, in a context of their own: the JSON parser (depth and size bounds) and the error answers are theirs only. */
  readonly routes = async (child: FastifyInstance): Promise<void> => {
    const { path, bodyLimit } = this.#opts
    const maxDepth = this.#state.config.maxFrameDepth
    child.removeAllContentTypeParsers()
    child.addContentTypeParser('application/json', { parseAs: 'string', bodyLimit }, (request, body, done) => {
      const text = body as string
      // Read as UTF-8 whatever the header says: a body in another charset would be read wrong, so it is refused.
      const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(request.headers['content-type'] ?? '')?.[1]?.toLowerCase()
      if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
        done(new BadInputError(`the body must be UTF-8 JSON (charset ${JSON.stringify(charset.slice(0, 32))})`), undefined)
        return
      }
      // No body (a DELETE from a client that sets the JSON type on every request): as if it had no type.
      if (text === '') {
        done(null, undefined)
        return
      }
      // Before JSON.parse builds anything: a body of nested brackets is refused from its text.
      if (nestsDeeperThan(text, maxDepth + 1)) {
        done(new BadInputError(`the body may nest at most ${maxDepth + 1} levels of arrays and objects (maxFrameDepth)`), undefined)
        return
      }
      try {
        done(null, JSON.parse(text))
      } catch (err) {
        done(new BadInputError(`the body is not JSON (${(err as Error).message})`), undefined)
      }
    })
    child.setErrorHandler(async (err: { code?: string, message: string, statusCode?: number }, request, reply) => {
      if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return await refuse(reply, new BodyTooLargeError(bodyLimit))
      if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return await refuse(reply, new BadInputError('the body must be application/json (a RunAgentInput)'))
      if (typeof err.code === 'string' && err.code.startsWith('AGS_')) return await refuse(reply, err as { code: string, message: string })
      request.log.error({ err }, 'autogen-stream: AG-UI request failed')
      throw err
    })
    const streams = { onRequest: [this.#slot, this.#admit] }
    const onRequest = this.#admit
    child.post(path, { ...streams, bodyLimit }, this.#post)
    // No HEAD twin (Fastify adds one to a GET): a HEAD would attach a reader that sends nothing.
    child.get<{ Params: RunParams, Querystring: { after?: unknown } }>(`${path}/runs/:runId`, { ...streams, exposeHeadRoute: false }, this.#get)
    child.delete<{ Params: RunParams }>(`${path}/runs/:runId`, { onRequest }, this.#delete)
    child.post<{ Params: RunParams }>(`${path}/runs/:runId/input`, { onRequest, bodyLimit }, this.#input)
  }

  /** Called by the plugin's heartbeat timer. */
  heartbeat (): void {
    for (const stream of this.#streams) stream.heartbeat()
  }

  /** fastify.close(), after every run was cancelled: each stream writes how its run ended, then ends (cut after closeGrace). */
  async shutdown (): Promise<void> {
    const grace = this.#state.config.closeGrace
    await Promise.all([...this.#streams].map(async (stream) => await stream.shutdown(grace)))
  }

  /** A stream holds a connection slot, as a socket does (the same limits, the same counts): taken first, before anything costs. */
  readonly #slot = async (request: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
    const { config, addresses } = this.#state
    if (config.maxConnections !== 0 && addresses.total >= config.maxConnections) return await refused(reply, new TooManyConnectionsError(addresses.total))
    if (config.maxConnectionsPerIp !== 0 && addresses.count(request.ip) >= config.maxConnectionsPerIp) return await refused(reply, new TooManyConnectionsFromIpError(addresses.count(request.ip)))
    // Held by the response: given back when it closes, whatever ends it.
    if (config.maxConnections !== 0 || config.maxConnectionsPerIp !== 0) addresses.take(config.maxConnectionsPerIp !== 0 ? request.ip : undefined, reply.raw)
    return undefined
  }

  /** Origin and identity, before the body is read. */
  readonly #admit = async (request: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
    const { config } = this.#state
    if (!originAllowed(request, config.allowedOrigins)) return await refused(reply, new ForbiddenOriginError(JSON.stringify(String(request.headers.origin).slice(0, 200))))
    if (config.authenticate !== undefined && !await authenticateRequest(config.authenticate, request, reply)) return reply
    // Once per request: without authenticate(), every request is an identity of its own.
    const held = request as unknown as Record<symbol, Identity>
    held[kIdentity] = identityOf(request)
    return undefined
  }

  readonly #post = async (request: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
    const start = toStart(request.body)
    if ('reason' in start) return await refused(reply, new BadInputError(start.reason))
    const { config, runs } = this.#state
    // An answer is the task of the run it starts: bounded alike.
    const taskBytes = Buffer.byteLength(JSON.stringify(start.task ?? start.answer?.content))
    if (taskBytes > config.maxTaskBytes) return await refused(reply, new TaskTooLargeError(taskBytes, config.maxTaskBytes))
    const identity = requestIdentity(request)
    // A thread is found again by its owner only: an anonymous identity (one
    // per request) never comes back, so its runs keep no thread, and a
    // runner must keep thread state (pythonRunner does).
    const threaded = identity.anonymous !== true && runs.threads !== undefined && config.runner?.threads === true
    if (start.answer !== undefined && !threaded) {
      return await refused(reply, new ThreadUnsupportedError('answering an interrupt (resume) continues a thread: it needs authenticate() and a runner that keeps threads (pythonRunner)'))
    }
    const frame = {
      type: 'start',
      runId: start.runId,
      options: start.options,
      ...(threaded ? { threadId: start.threadId } : {}),
      // A continuation of an interrupted thread run carries its answer instead of a task.
      ...(start.answer !== undefined ? { answer: start.answer } : { task: start.task })
    } as StartFrame
    this.#tracer?.captureParent(request)
    let run
    try {
      run = await runs.start({
        frame,
        runId: start.runId,
        identity,
        poolKey: identity.anonymous === true ? `address:${request.ip}` : `identity:${identity.id}`,
        anonymous: identity.anonymous === true,
        request,
        log: request.log,
        version: PROTOCOL
      })
    } catch (err) {
      request.log.warn({ err }, 'autogen-stream: the run store failed')
      return await refused(reply, new StoreUnavailableError('try again later'))
    }
    if (run instanceof Error) return await refused(reply, run)
    const info: AgUiRun = { threadId: start.threadId, runId: start.runId, continuation: start.answer !== undefined, checkpoints: new Checkpoints() }
    this.#runs.set(run, info)
    return await this.#stream(request, reply, run, info, { after: -1, skip: 0 }, true)
  }

  readonly #get = async (request: FastifyRequest<{ Params: RunParams, Querystring: { after?: unknown } }>, reply: FastifyReply): Promise<unknown> => {
    const header = request.headers['last-event-id']
    const after = request.query.after
    // A query string may repeat `after` (an array): no id either.
    const given = typeof header === 'string' ? header : after === undefined ? '-1' : typeof after === 'string' ? after : String(after)
    const point = parseResumePoint(given)
    if (point === undefined) return await refused(reply, new BadInputError(`Last-Event-ID (or after) ${JSON.stringify(given.slice(0, 64))} is not an event id of this server (a seq, or seq/index)`))
    const found = await this.#find(request, reply)
    if (found === undefined) return reply
    return await this.#stream(request, reply, found.run, found.info, point, false)
  }

  readonly #delete = async (request: FastifyRequest<{ Params: RunParams }>, reply: FastifyReply): Promise<unknown> => {
    const found = await this.#find(request, reply)
    if (found === undefined) return reply
    // A run that has ended stays ended: cancelling it is no error.
    found.run.cancel('client')
    return await reply.code(204).send()
  }

  /**
   * An answer to the run's input request (the `input` frame of the socket):
   * a client that shows the `autogen-stream.input_request` CUSTOM event
   * may answer it here while the run waits. The first answer wins.
   */
  readonly #input = async (request: FastifyRequest<{ Params: RunParams }>, reply: FastifyReply): Promise<unknown> => {
    const body = request.body as { requestId?: unknown, content?: unknown } | undefined
    const requestId = body?.requestId
    if (typeof body !== 'object' || body === null || typeof requestId !== 'string' || requestId === '' || requestId.length > 256 || typeof body.content !== 'string') {
      return await refused(reply, new BadInputError('the body must be { "requestId": string (1-256 characters), "content": string }'))
    }
    const found = await this.#find(request, reply)
    if (found === undefined) return reply
    let answered
    try {
      answered = await found.run.answer(requestId, body.content)
    } catch (err) {
      request.log.warn({ err }, 'autogen-stream: the run store failed')
      return await refused(reply, new StoreUnavailableError('try again later'))
    }
    if (!answered) return await refused(reply, new UnknownRequestError(`Run "${found.info.runId}"`, requestId))
    return await reply.code(204).send()
  }

  /** The run of the URL, if this identity may read it (or its token names it) and this route started it; else the reply is a 404. */
  async #find (request: FastifyRequest<{ Params: RunParams }>, reply: FastifyReply): Promise<{ run: SharedRun, info: AgUiRun } | undefined> {
    const { runId } = request.params
    const token = request.headers[RESUME_TOKEN_HEADER]
    let run
    try {
      run = await this.#state.runs.find(requestIdentity(request).id, runId, typeof token === 'string' && token !== '' ? token.slice(0, 128) : undefined)
    } catch (err) {
      request.log.warn({ err }, 'autogen-stream: the run store failed')
      await refused(reply, new StoreUnavailableError('try again later'))
      return undefined
    }
    const info = run === undefined ? undefined : this.#runs.get(run)
    if (run === undefined || info === undefined) {
      await refused(reply, new UnknownRunError(runId))
      return undefined
    }
    return { run, info }
  }

  /** Answers with the run as SSE, from `point` on. */
  async #stream (request: FastifyRequest, reply: FastifyReply, run: SharedRun, info: AgUiRun, point: ResumePoint, starter: boolean): Promise<unknown> {
    const head = run.head
    if (point.after > head) return await refused(reply, new BadInputError(`Last-Event-ID is beyond the run's last seq (${head})`))
    // Mapped from the last state known at or before the point: silently up to it when no reader mapped that far.
    const from = Math.min(point.after, info.checkpoints.mappedUpTo)
    if (from + 1 < run.oldest) {
      this.#state.events.resumeGaps++
      return await refused(reply, new ResumeGapError(info.runId, point.after, run.oldest))
    }
    const sse = new SseResponse(reply.raw)
    const stream = new AgUiStream({
      run,
      info,
      sse,
      headers: reply.getHeaders() as Record<string, string | number | string[]>,
      from,
      after: point.after,
      skip: point.skip,
      starter,
      cancelOnCut: this.#opts.onDisconnect === 'cancel',
      stallTimeout: this.#state.config.stallTimeout,
      counters: this.#state.counters,
      events: this.#state.events,
      log: request.log,
      onEnd: (s) => this.#streams.delete(s)
    })
    // In the set before it starts: a stream whose client went already ends (and leaves it) at once.
    this.#streams.add(stream)
    let failed: Error | undefined
    try {
      failed = stream.start()
    } catch (err) {
      this.#streams.delete(stream)
      if (!(err instanceof LogGapError)) throw err
      this.#state.events.resumeGaps++
      return await refused(reply, new ResumeGapError(info.runId, point.after, err.oldest))
    }
    if (failed !== undefined) {
      this.#streams.delete(stream)
      return await refused(reply, failed as AutogenStreamError)
    }
    if (!starter) this.#state.events.resumeAttaches++
    // From here the stream writes the response itself (stream.ts).
    reply.hijack()
    return reply
  }
}

function requestIdentity (request: FastifyRequest): Identity {
  return (request as unknown as Record<symbol, Identity>)[kIdentity] as Identity
}

/** An error answer before any stream (the status and `{ code, message }` of the error table), returned so the hook or handler stops there. */
async function refused (reply: FastifyReply, err: { code: string, message: string, statusCode?: number }): Promise<FastifyReply> {
  await refuse(reply, err)
  return reply
}
