import t from 'tap'
import Fastify from 'fastify'
import { Registry } from 'prom-client'
import autogenStream, { ErrorTable, RunError, CANCEL_REASONS, type AutoGenEvent, type RunContext, type RunRequest } from '../lib/index.js'
import { startServer, Client, waitFor } from './fixtures/server.js'
import { chunk, result } from './fixtures/events.js'
import { fastRunner, probe } from './fixtures/runners.js'
import { samples, valuesOf } from './fixtures/metrics.js'
import { PLUGIN_METRICS } from '../lib/metrics.js'

/** A runner whose task says how the run ends. */
async function * scripted (request: RunRequest, context: RunContext): AsyncGenerator<AutoGenEvent> {
  switch (request.task) {
    case 'result':
      for (let i = 0; i < 5; i++) yield chunk(`w${i} `, 'm1')
      yield result([], 'done')
      return
    case 'app-error':
      // A model call's usage, reported before the run failed: it counts.
      yield { ...chunk('x', 'm1'), models_usage: { prompt_tokens: 40, completion_tokens: 2 } } as AutoGenEvent
      throw new RunError('APP_QUOTA', 'out of quota')
    case 'crash':
      throw new Error('boom')
    case 'wait':
      yield chunk('x', 'm1')
      await new Promise((resolve) => context.signal.addEventListener('abort', resolve))
  }
}

const R = 'route=/autogen'

t.test('runs that end in a result, an app error, a crash and a cancel: exact counts per label', async (t) => {
  const registry = new Registry()
  const { app, url } = await startServer({ runner: scripted, metrics: registry })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())

  t.same(await valuesOf(registry, 'autogen_stream_connections_open'), { [R]: 1 })
  for (const task of ['result', 'app-error', 'crash']) {
    c.send({ type: 'start', runId: task, task })
    await c.untilEnded(task)
  }
  c.send({ type: 'start', runId: 'wait', task: 'wait' })
  await c.until(() => c.run('wait').some((f) => f.type === 'token'))
  t.same(await valuesOf(registry, 'autogen_stream_runs_active'), { [R]: 1 })
  c.send({ type: 'cancel', runId: 'wait' })
  await c.untilEnded('wait')

  t.same(await valuesOf(registry, 'autogen_stream_runs_started_total'), { [R]: 4 })
  t.same(await valuesOf(registry, 'autogen_stream_runs_finished_total'), {
    [`code=,outcome=result,reason=,${R}`]: 1,
    [`code=APP_QUOTA,outcome=error,reason=,${R}`]: 1,
    [`code=AGS_RUNNER_ERROR,outcome=error,reason=,${R}`]: 1,
    [`code=,outcome=cancelled,reason=client,${R}`]: 1
  })
  t.same(await valuesOf(registry, 'autogen_stream_tokens_sent_total'), { [R]: 7 })
  t.same(await valuesOf(registry, 'autogen_stream_model_tokens_total'), { [`${R},type=prompt`]: 40, [`${R},type=completion`]: 2 })
  const { frames, bytes } = app.autogenStream.counters
  t.same(await valuesOf(registry, 'autogen_stream_frames_sent_total'), { [R]: frames })
  t.same(await valuesOf(registry, 'autogen_stream_sent_bytes_total'), { [R]: bytes })
  t.same(await valuesOf(registry, 'autogen_stream_runs_active'), { [R]: 0 })
  t.same(await valuesOf(registry, 'autogen_stream_runs_retained'), { [R]: 4 })
  // Three runs streamed a token (the crash did not); every run has a duration.
  t.same(await valuesOf(registry, 'autogen_stream_time_to_first_token_seconds'), { [R]: 3 })
  t.same(await valuesOf(registry, 'autogen_stream_run_duration_seconds'), {
    [`outcome=result,${R}`]: 1, [`outcome=error,${R}`]: 2, [`outcome=cancelled,${R}`]: 1
  })
  const buckets = (await samples(registry, 'autogen_stream_time_to_first_token_seconds')).filter((s) => s.metricName?.endsWith('_bucket')).map((s) => s.labels.le)
  t.same(buckets, [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, '+Inf'])

  // A second scrape adds nothing: counters mirror the plugin's counts, they do not add them again.
  t.same(await valuesOf(registry, 'autogen_stream_tokens_sent_total'), { [R]: 7 })
  c.close()
  await waitFor(() => app.autogenStream.connections === 0)
  t.same(await valuesOf(registry, 'autogen_stream_connections_open'), { [R]: 0 })
  t.same(await valuesOf(registry, 'autogen_stream_connections_opened_total'), { [R]: 1 })
})

t.test('queued and detached runs', async (t) => {
  const registry = new Registry()
  const { app, url } = await startServer({ runner: scripted, metrics: registry, maxActiveRuns: 1 })
  t.after(() => app.close())
  const c = await Client.connect(url)
  c.send({ type: 'start', runId: 'a', task: 'wait' })
  c.send({ type: 'start', runId: 'b', task: 'wait' })
  await c.until(() => c.run('b').some((f) => f.type === 'queued'))
  t.same(await valuesOf(registry, 'autogen_stream_runs_active'), { [R]: 2 })
  t.same(await valuesOf(registry, 'autogen_stream_runs_queued'), { [R]: 1 })
  t.same(await valuesOf(registry, 'autogen_stream_runs_detached'), { [R]: 0 })
  c.close()
  await waitFor(() => app.autogenStream.connections === 0)
  t.same(await valuesOf(registry, 'autogen_stream_runs_detached'), { [R]: 2 })
  await app.close()
  t.same(await valuesOf(registry, 'autogen_stream_runs_finished_total'), { [`code=,outcome=cancelled,reason=shutdown,${R}`]: 2 })
})

t.test('a slow consumer closed with 4008, its run cancelled', async (t) => {
  const registry = new Registry()
  const p = probe()
  const { app, url } = await startServer({ runner: fastRunner(p, Infinity, 500), metrics: registry, stallTimeout: 200, closeGrace: 60_000, onDisconnect: 'cancel' })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  c.ws.pause()
  c.send({ type: 'start', runId: 'slow', task: 'x' })
  await waitFor(() => p.aborted)
  c.ws.resume()
  t.equal((await c.closed).code, 4008)
  t.same(await valuesOf(registry, 'autogen_stream_slow_consumer_closes_total'), { [R]: 1 })
  t.same(await valuesOf(registry, 'autogen_stream_runs_finished_total'), { [`code=,outcome=cancelled,reason=slow_consumer,${R}`]: 1 })
})

t.test('resume attaches and gaps', async (t) => {
  const registry = new Registry()
  const { app, url } = await startServer({ runner: scripted, metrics: registry, retainEvents: 0, retainBytes: 0 })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  c.send({ type: 'start', runId: 'r', task: 'result' })
  const frames = await c.untilEnded('r')
  const head = (frames.at(-1) as { seq: number }).seq
  const d = await Client.connect(url)
  t.after(() => d.close())
  const token = c.tokens.get('r')
  // From the end: nothing to send, answered `attached`. From the start: those frames are no longer kept.
  d.send({ type: 'attach', runId: 'r', after: head, resumeToken: token })
  d.send({ type: 'attach', runId: 'r', after: 0, resumeToken: token })
  await d.until((fs) => fs.some((f) => f.type === 'attached') && fs.some((f) => f.type === 'error' && f.code === 'AGS_RESUME_GAP'))
  t.same(await valuesOf(registry, 'autogen_stream_resume_attaches_total'), { [R]: 1 })
  t.same(await valuesOf(registry, 'autogen_stream_resume_gaps_total'), { [R]: 1 })
})

t.test('/metrics as docs/metrics.md shows it answers with the text format', async (t) => {
  const registry = new Registry()
  const app = Fastify()
  t.after(() => app.close())
  await app.register(autogenStream, { runner: scripted, metrics: registry })
  app.get('/metrics', async (_request, reply) => {
    reply.type(registry.contentType)
    return await registry.metrics()
  })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const c = await Client.connect(`ws://127.0.0.1:${(app.server.address() as { port: number }).port}/autogen`)
  t.after(() => c.close())
  c.send({ type: 'start', runId: 'r', task: 'result' })
  await c.untilEnded('r')
  const res = await app.inject({ method: 'GET', url: '/metrics' })
  t.equal(res.statusCode, 200)
  t.equal(res.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8')
  t.match(res.body, '# TYPE autogen_stream_runs_finished_total counter\n')
  t.match(res.body, 'autogen_stream_runs_finished_total{route="/autogen",outcome="result",reason="",code=""} 1\n')
  t.match(res.body, 'autogen_stream_tokens_sent_total{route="/autogen"} 5\n')
  t.match(res.body, 'autogen_stream_time_to_first_token_seconds_count{route="/autogen"} 1\n')
  // Every metric of the table is there, and nothing else of ours.
  const names = [...res.body.matchAll(/^# TYPE (autogen_stream_\w+) (\w+)$/gm)].map((m) => `${m[1]} ${m[2]}`)
  t.same(names, PLUGIN_METRICS.map((m) => `${m.name} ${m.type}`))
})

t.test('two registrations (two routes) on one registry: one set of metrics, a series per route', async (t) => {
  const registry = new Registry()
  const app = Fastify()
  t.after(() => app.close())
  app.register(async (child) => { await child.register(autogenStream, { path: '/team', runner: scripted, metrics: registry }) })
  app.register(async (child) => { await child.register(autogenStream, { path: '/solo', runner: scripted, metrics: registry }) }, { prefix: '/v2' })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as { port: number }).port
  const team = await Client.connect(`ws://127.0.0.1:${port}/team`)
  t.after(() => team.close())
  const solo = await Client.connect(`ws://127.0.0.1:${port}/v2/solo`)
  t.after(() => solo.close())
  team.send({ type: 'start', runId: 'a', task: 'result' })
  team.send({ type: 'start', runId: 'b', task: 'crash' })
  solo.send({ type: 'start', runId: 'a', task: 'result' })
  await team.untilEnded('a')
  await team.untilEnded('b')
  await solo.untilEnded('a')
  t.same(await valuesOf(registry, 'autogen_stream_runs_started_total'), { 'route=/team': 2, 'route=/v2/solo': 1 })
  t.same(await valuesOf(registry, 'autogen_stream_connections_open'), { 'route=/team': 1, 'route=/v2/solo': 1 })
  t.same(await valuesOf(registry, 'autogen_stream_tokens_sent_total'), { 'route=/team': 5, 'route=/v2/solo': 5 })
  t.same(await valuesOf(registry, 'autogen_stream_runs_finished_total'), {
    'code=,outcome=result,reason=,route=/team': 1,
    'code=AGS_RUNNER_ERROR,outcome=error,reason=,route=/team': 1,
    'code=,outcome=result,reason=,route=/v2/solo': 1
  })
})

t.test('label values come from closed sets: no run ids, no identities', async (t) => {
  const registry = new Registry()
  const { app, url } = await startServer({ runner: scripted, metrics: registry })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  const ids = ['result', 'app-error', 'crash', 'wait'].map((task, i) => ({ task, runId: `run-${i}-${Math.random()}` }))
  for (const { task, runId } of ids) c.send({ type: 'start', runId, task })
  const waiting = ids[3]?.runId as string
  await c.until(() => c.run(waiting).some((f) => f.type === 'token'))
  c.send({ type: 'cancel', runId: waiting })
  for (const { runId } of ids) await c.untilEnded(runId)
  const allowed: Record<string, Set<string>> = {
    route: new Set(['/autogen']),
    outcome: new Set(['result', 'cancelled', 'error']),
    reason: new Set(['', ...CANCEL_REASONS]),
    code: new Set(['', ...Object.keys(ErrorTable), 'APP_QUOTA', 'other']),
    type: new Set(['prompt', 'completion'])
  }
  let seen = 0
  const outside: string[] = []
  for (const { name } of PLUGIN_METRICS) {
    for (const s of await samples(registry, name)) {
      for (const [label, value] of Object.entries(s.labels)) {
        if (label === 'le') continue
        seen++
        if (allowed[label]?.has(String(value)) !== true) outside.push(`${name}: ${label}=${value}`)
      }
    }
  }
  t.same(outside, [], 'every label value is from its closed set')
  t.ok(seen > 20, `${seen} labels checked`)
  const text = await registry.metrics()
  for (const { runId } of ids) t.notMatch(text, runId)
})

t.test('without the option nothing is registered; a value that is not a Registry is refused', async (t) => {
  const registry = new Registry()
  const { app, url } = await startServer({ runner: scripted })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  c.send({ type: 'start', runId: 'r', task: 'result' })
  t.equal((await c.untilEnded('r')).at(-1)?.type, 'result')
  t.equal((await registry.getMetricsAsJSON()).length, 0)

  for (const bad of [{}, 'registry', { metrics: () => '' }]) {
    const other = Fastify()
    await t.rejects(async () => { await other.register(autogenStream, { runner: scripted, metrics: bad as unknown as Registry }).ready() }, {
      code: 'AGS_INVALID_OPTION',
      message: /^Invalid option "metrics": expected a prom-client Registry/
    })
    await other.close()
  }
})
