import type * as Otel from '@opentelemetry/api'
import type { FastifyRequest } from 'fastify'
import type { RunObserver } from './observe.js'

/*
 * One OpenTelemetry span per run, through @opentelemetry/api (an optional
 * peer): loaded once at registration when `tracing` is not false; when it
 * is not installed there is no tracing and no error. Without an SDK
 * registered, the API's tracer is a no-op.
 *
 * A run starts from a WebSocket message, long after the upgrade request:
 * the context active then is the socket's, not the request's. The parent is
 * the upgrade request's span: @fastify/otel's (request.opentelemetry()), or
 * else the context active in the route's handler, kept per request by
 * captureParent() only when it holds a span.
 */

export const SPAN_NAME = 'autogen_stream.run'

/** The span's attributes, in one place for the docs. */
export const SPAN_ATTRIBUTES = {
  runId: 'autogen_stream.run.id',
  key: 'autogen_stream.run.key',
  route: 'autogen_stream.route',
  outcome: 'autogen_stream.run.outcome',
  cancelReason: 'autogen_stream.run.cancel_reason',
  errorCode: 'autogen_stream.run.error_code',
  tokens: 'autogen_stream.run.tokens',
  timeToFirstToken: 'autogen_stream.run.time_to_first_token_ms',
  // OpenTelemetry's GenAI semantic conventions, from the terminal frame's usage.
  inputTokens: 'gen_ai.usage.input_tokens',
  outputTokens: 'gen_ai.usage.output_tokens'
} as const

export interface RunTracer {
  observer: RunObserver
  /** Called in the route's handler: keeps the context active there as the parent of the request's runs. */
  captureParent: (request: FastifyRequest) => void
}

/** The API, or undefined when it is not installed. */
async function loadApi (): Promise<typeof Otel | undefined> {
  try {
    const loaded = await import('@opentelemetry/api') as typeof Otel & { default?: typeof Otel }
    return typeof loaded.trace?.getTracer === 'function' ? loaded : loaded.default
  } catch {
    return undefined
  }
}

interface OtelRequest { opentelemetry?: () => { context?: Otel.Context | null, instrumented?: boolean } }

export async function createRunTracer (route: string, version: string): Promise<RunTracer | undefined> {
  const api = await loadApi()
  if (api === undefined) return undefined
  const { trace, context, SpanStatusCode, SpanKind } = api
  const tracer = trace.getTracer('fastify-autogen-stream', version)
  const parents = new WeakMap<FastifyRequest, Otel.Context>()

  const parentOf = (request: FastifyRequest): Otel.Context => {
    const otel = (request as unknown as OtelRequest).opentelemetry
    if (typeof otel === 'function') {
      const ctx = otel.call(request).context
      if (ctx !== undefined && ctx !== null) return ctx
    }
    return parents.get(request) ?? context.active()
  }

  return {
    captureParent (request) {
      const active = context.active()
      if (trace.getSpan(active) !== undefined) parents.set(request, active)
    },
    observer: {
      run ({ runId, key, request }) {
        const span = tracer.startSpan(SPAN_NAME, {
          kind: SpanKind.INTERNAL,
          attributes: { [SPAN_ATTRIBUTES.runId]: runId, [SPAN_ATTRIBUTES.key]: key, [SPAN_ATTRIBUTES.route]: route }
        }, parentOf(request))
        const startedAt = performance.now()
        return {
          firstToken () {
            const ms = performance.now() - startedAt
            span.setAttribute(SPAN_ATTRIBUTES.timeToFirstToken, ms)
            span.addEvent('first_token')
          },
          ended (terminal, tokens) {
            span.setAttribute(SPAN_ATTRIBUTES.outcome, terminal.type)
            span.setAttribute(SPAN_ATTRIBUTES.tokens, tokens)
            if (terminal.usage !== undefined) {
              span.setAttribute(SPAN_ATTRIBUTES.inputTokens, terminal.usage.prompt_tokens)
              span.setAttribute(SPAN_ATTRIBUTES.outputTokens, terminal.usage.completion_tokens)
            }
            if (terminal.type === 'cancelled') span.setAttribute(SPAN_ATTRIBUTES.cancelReason, terminal.reason)
            if (terminal.type === 'error') {
              span.setAttribute(SPAN_ATTRIBUTES.errorCode, terminal.code)
              span.setStatus({ code: SpanStatusCode.ERROR, message: terminal.code })
            }
            span.end()
          }
        }
      }
    }
  }
}
