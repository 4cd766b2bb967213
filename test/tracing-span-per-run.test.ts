import t from 'tap'
import { FastifyOtelInstrumentation } from '@fastify/otel'
import { NodeTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-node'
import { RunError, type AutoGenEvent, type RunContext, type RunRequest } from '../lib/index.js'
import { startServer, Client, waitFor } from './fixtures/server.js'
import { chunk, result, text } from './fixtures/events.js'

// One SDK for the whole file: the API's global provider is set once per process.
const exporter = new InMemorySpanExporter()
const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
provider.register()
t.teardown(() => provider.shutdown())

const SPAN_CODE = { UNSET: 0, OK: 1, ERROR: 2 }

async function * scripted (request: RunRequest, context: RunContext): AsyncGenerator<AutoGenEvent> {
  switch (request.task) {
    case 'result':
      for (let i = 0; i < 5; i++) yield chunk(`w${i} `, 'm1')
      yield { ...text('w0 w1 w2 w3 w4', 'assistant'), models_usage: { prompt_tokens: 21, completion_tokens: 5 } } as AutoGenEvent
      yield result([], 'done')
      return
    case 'app-error':
      yield chunk('x', 'm1')
      throw new RunError('APP_QUOTA', 'out of quota')
    case 'wait':
      yield chunk('x', 'm1')
      await new Promise((resolve) => context.signal.addEventListener('abort', resolve))
  }
}

const runSpans = (): ReadableSpan[] => exporter.getFinishedSpans().filter((s) => s.name === 'autogen_stream.run')
const byRunId = (runId: string): ReadableSpan => {
  const span = runSpans().find((s) => s.attributes['autogen_stream.run.id'] === runId)
  if (span === undefined) throw new Error(`no span for ${runId}`)
  return span
}

t.test('one span per run, with its outcome, tokens, time to first token and status', async (t) => {
  exporter.reset()
  const { app, url } = await startServer({ runner: scripted })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  for (const task of ['result', 'app-error']) {
    c.send({ type: 'start', runId: task, task })
    await c.untilEnded(task)
  }
  c.send({ type: 'start', runId: 'wait', task: 'wait' })
  await c.until(() => c.run('wait').some((f) => f.type === 'token'))
  c.send({ type: 'cancel', runId: 'wait' })
  await c.untilEnded('wait')
  await waitFor(() => runSpans().length === 3)

  const ok = byRunId('result')
  t.equal(ok.attributes['autogen_stream.run.outcome'], 'result')
  t.equal(ok.attributes['autogen_stream.run.tokens'], 5)
  t.equal(ok.attributes['gen_ai.usage.input_tokens'], 21)
  t.equal(ok.attributes['gen_ai.usage.output_tokens'], 5)
  t.equal(ok.attributes['autogen_stream.route'], '/autogen')
  t.type(ok.attributes['autogen_stream.run.key'], 'string')
  t.type(ok.attributes['autogen_stream.run.time_to_first_token_ms'], 'number')
  t.same(ok.events.map((e) => e.name), ['first_token'])
  t.equal(ok.status.code, SPAN_CODE.UNSET)
  t.equal(ok.parentSpanContext, undefined, 'no request span without instrumentation: a root span')

  const failed = byRunId('app-error')
  t.equal(failed.attributes['autogen_stream.run.outcome'], 'error')
  t.equal(failed.attributes['autogen_stream.run.error_code'], 'APP_QUOTA')
  t.equal(failed.attributes['autogen_stream.run.tokens'], 1)
  t.same(failed.status, { code: SPAN_CODE.ERROR, message: 'APP_QUOTA' })

  const cancelled = byRunId('wait')
  t.equal(cancelled.attributes['autogen_stream.run.outcome'], 'cancelled')
  t.equal(cancelled.attributes['autogen_stream.run.cancel_reason'], 'client')
  t.equal(cancelled.status.code, SPAN_CODE.UNSET)
})

t.test('with @fastify/otel, the run span is a child of the upgrade request\'s span', async (t) => {
  exporter.reset()
  // The request span of an upgrade is never ended by @fastify/otel (no response goes out): caught as it starts.
  const requests: Array<{ span: { spanContext: () => { spanId: string, traceId: string } }, url: string }> = []
  const otel = new FastifyOtelInstrumentation({ requestHook: (span, request) => { requests.push({ span, url: request.url }) } })
  otel.setTracerProvider(provider)
  const { app, url } = await startServer({ runner: scripted }, async (app) => { await app.register(otel.plugin()) })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  c.send({ type: 'start', runId: 'a', task: 'result' })
  c.send({ type: 'start', runId: 'b', task: 'result' })
  await c.untilEnded('a')
  await c.untilEnded('b')
  await waitFor(() => runSpans().length === 2)
  c.close()
  await app.close()
  t.same(requests.map((r) => r.url), ['/autogen'], 'one request span, the upgrade\'s')
  const request = requests[0]?.span as (typeof requests)[number]['span']
  for (const runId of ['a', 'b']) {
    const span = byRunId(runId)
    t.equal(span.parentSpanContext?.spanId, request.spanContext().spanId, `run ${runId}: parent is the request span`)
    t.equal(span.spanContext().traceId, request.spanContext().traceId, `run ${runId}: same trace`)
  }
})

t.test('tracing: false makes no span', async (t) => {
  exporter.reset()
  const { app, url } = await startServer({ runner: scripted, tracing: false })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  c.send({ type: 'start', runId: 'r', task: 'result' })
  t.equal((await c.untilEnded('r')).at(-1)?.type, 'result')
  t.equal(runSpans().length, 0)
})

t.test('without @fastify/otel, the parent is the span active in the route\'s handler (another instrumentation\'s)', async (t) => {
  exporter.reset()
  const { context, trace } = await import('@opentelemetry/api')
  const tracer = provider.getTracer('test')
  const upgrades: string[] = []
  const { app, url } = await startServer({ runner: scripted }, (app) => {
    // What an HTTP instrumentation does: the request runs inside its span's context.
    app.addHook('onRequest', (_request, _reply, done) => {
      const span = tracer.startSpan('upgrade')
      upgrades.push(span.spanContext().spanId)
      context.with(trace.setSpan(context.active(), span), done)
    })
  })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  c.send({ type: 'start', runId: 'r', task: 'result' })
  await c.untilEnded('r')
  await waitFor(() => runSpans().length === 1)
  t.equal(upgrades.length, 1)
  t.equal(byRunId('r').parentSpanContext?.spanId, upgrades[0])
})
