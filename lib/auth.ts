import { randomUUID } from 'node:crypto'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { ForbiddenError, RunError, UnauthenticatedError } from './errors.js'
import type { Identity, RunnerObject, RunRequest } from './runner.js'
import { refuse } from './refuse.js'

/*
 * Who may connect and run. authenticate() runs before the upgrade (the
 * route's preValidation, as @fastify/websocket users do it): no identity,
 * no WebSocket. authorizeRun() runs at the start of each run, inside it:
 * a refusal ends that run with an error frame, a rewrite changes what the
 * runner gets.
 */

export type Authenticate = (request: FastifyRequest) => Promise<Identity | null | undefined> | Identity | null | undefined
export type AuthorizeRun = (identity: Identity, start: Pick<RunRequest, 'runId' | 'task' | 'options'>) =>
  Promise<Partial<Pick<RunRequest, 'task' | 'options'>> | undefined | void> | Partial<Pick<RunRequest, 'task' | 'options'>> | undefined | void

const kIdentity = Symbol('autogenStream.identity')

/** The identity of an upgraded request (anonymous, one per connection, without authenticate). */
export function identityOf (request: FastifyRequest): Identity {
  const known = (request as unknown as { [kIdentity]?: Identity })[kIdentity]
  return known ?? { id: anonymousId(), anonymous: true }
}

/**
 * `anonymous:<uuid>` as one flat string: randomUUID() concatenates its
 * hex pairs, so its result is a tree of some fifteen string pieces (about
 * 500 bytes of heap) for as long as the id lives.
 */
function anonymousId (): string {
  return Buffer.from(`anonymous:${randomUUID()}`, 'latin1').toString('latin1')
}

/**
 * Runs the app's authenticate(); answers 401 (no identity, or it threw) or
 * 403 (it threw an error with statusCode 403) and returns false, or keeps
 * the identity on the request and returns true.
 */
export async function authenticateRequest (authenticate: Authenticate, request: FastifyRequest, reply: FastifyReply): Promise<boolean> {
  let identity: unknown
  try {
    identity = await authenticate(request)
  } catch (err) {
    let forbidden = false
    try {
      forbidden = (err as { statusCode?: unknown })?.statusCode === 403
    } catch {} // a thrown value whose statusCode getter throws is just a refusal
    request.log.info({ err }, 'autogen-stream: authenticate refused the request')
    await refuse(reply, forbidden ? new ForbiddenError() : new UnauthenticatedError())
    return false
  }
  const copy = identityFrom(identity)
  if (copy === undefined) {
    if (identity !== undefined && identity !== null) request.log.error({ identity: typeof identity }, 'autogen-stream: authenticate() returned something that is not an identity ({ id: string, ... } that JSON can hold)')
    await refuse(reply, new UnauthenticatedError())
    return false
  }
  (request as unknown as { [kIdentity]?: Identity })[kIdentity] = copy
  return true
}

/**
 * The identity as plain JSON data, or undefined when it is not one: a copy,
 * so getters and later changes by the app cannot alter who a run belongs to.
 */
function identityFrom (value: unknown): Identity | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined
  let copy: unknown
  try {
    copy = JSON.parse(JSON.stringify(value))
  } catch {
    return undefined
  }
  const id = (copy as { id?: unknown })?.id
  return typeof id === 'string' && id !== '' ? copy as Identity : undefined
}

function isPlainObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** What authorizeRun may return to rewrite a run: the same shapes a start frame allows. */
function isRewrite (value: unknown): value is Partial<Pick<RunRequest, 'task' | 'options'>> {
  if (!isPlainObject(value)) return false
  if ('options' in value && !isPlainObject(value.options)) return false
  if ('task' in value && typeof value.task !== 'string' && !isPlainObject(value.task) && !Array.isArray(value.task)) return false
  return true
}

/** The runner, with authorizeRun() asked first in every run. */
export function withAuthorization (runner: RunnerObject, authorizeRun: AuthorizeRun): RunnerObject {
  return {
    ...runner,
    async * run (request, context) {
      let rewrite
      try {
        rewrite = await authorizeRun(context.identity, { runId: request.runId, task: request.task, options: request.options })
      } catch (err) {
        if (err instanceof RunError) throw err
        context.log.info({ err, runKey: request.key }, 'autogen-stream: authorizeRun refused the run')
        throw RunError.of('AGS_RUN_REFUSED', [], { cause: err })
      }
      if (rewrite !== undefined && rewrite !== null && !isRewrite(rewrite)) {
        context.log.error({ runKey: request.key }, 'autogen-stream: authorizeRun returned something else than nothing or { task?, options? } (options an object, task a string, object or array); the run is refused')
        throw RunError.of('AGS_RUN_REFUSED')
      }
      const allowed = rewrite === undefined || rewrite === null
        ? request
        : { ...request, ...('task' in rewrite ? { task: rewrite.task } : {}), ...('options' in rewrite ? { options: rewrite.options } : {}) }
      yield * runner.run(allowed as RunRequest, context)
    }
  }
}
