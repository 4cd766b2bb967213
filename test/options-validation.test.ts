import t from 'tap'
import Fastify from 'fastify'
import autogenStream, { pythonRunner, type AutogenStreamOptions, type PythonRunnerOptions } from '../lib/index.js'
import { result } from './fixtures/events.js'

const runner = async function * () { yield result() }

const bad: Array<[string, Record<string, unknown>, RegExp]> = [
  ['no runner', {}, /Invalid option "runner": expected a function .* \(got undefined\)/],
  ['runner without run()', { runner: { go () {} } }, /"runner".*\(got \{\}\)/],
  ['runner.close not a function', { runner: { run: runner, close: 'soon' } }, /"runner.close": expected a function \(got "soon"\)/],
  ['runner.start not a function', { runner: { run: runner, start: true } }, /"runner.start": expected a function \(got true\)/],
  ['path without slash', { runner, path: 'autogen' }, /"path".*\(got "autogen"\)/],
  ['highWaterMark 0', { runner, highWaterMark: 0 }, /"highWaterMark": expected an integer from 1 to \d+ \(got 0\)/],
  ['maxBufferedBytes not a number', { runner, maxBufferedBytes: '64k' }, /"maxBufferedBytes".*\(got "64k"\)/],
  ['maxRunsPerConnection fractional', { runner, maxRunsPerConnection: 1.5 }, /"maxRunsPerConnection".*\(got 1.5\)/],
  ['stallTimeout negative', { runner, stallTimeout: -1 }, /"stallTimeout".*\(got -1\)/],
  ['pingInterval too large', { runner, pingInterval: 2 ** 31 }, /"pingInterval".*\(got 2147483648\)/],
  ['coalesceTokens not boolean', { runner, coalesceTokens: 'yes' }, /"coalesceTokens": expected a boolean \(got "yes"\)/],
  ['websocket not an object', { runner, websocket: 3 }, /"websocket".*\(got 3\)/],
  ['a misspelt option', { runner, maxPayLoad: 1024 }, /^Invalid option "maxPayLoad": unknown option \(did you mean maxPayload\?\); known: runner, runs, path, .*websocket, allowedOrigins, authenticate, authorizeRun, onDisconnect, detachTimeout, maxRunLag, retainEvents, retainBytes, retainAfterEnd, maxWatchersPerRun, maxThreadStateBytes, threadRetention, maxThreadsPerIdentity, metrics, tracing, agUi, prefix, logLevel, logSerializers \(got \[1024\]\)$/],
  ['a misspelt v2 option', { runner, maxRunlag: { events: 8 } }, /^Invalid option "maxRunlag": unknown option \(did you mean maxRunLag\?\); known: /],
  ['a misspelt maxRunLag field', { runner, maxRunLag: { event: 8 } }, /^Invalid option "maxRunLag.event": unknown option \(did you mean events\?\); known: events, bytes \(got \[8\]\)$/],
  ['onDisconnect neither continue nor cancel', { runner, onDisconnect: 'close' }, /^Invalid option "onDisconnect": expected "continue" or "cancel" \(got "close"\)$/],
  ['a misspelt authenticate never means no authentication', { runner, authenticat: () => ({ id: 'u' }) }, /^Invalid option "authenticat": unknown option \(did you mean authenticate\?\); known: /],
  ['authenticate not a function', { runner, authenticate: 'jwt' }, /^Invalid option "authenticate": expected a function \(got "jwt"\)$/],
  ['two unknown options', { runner, foo: 1, bar: 2 }, /^Invalid option "foo, bar": unknown options; known: /],
  ['runner and runs both', { runner, runs: { kind: 'redis', create () {} } }, /^Invalid option "runs": give either runner \(runs in this process\) or runs \(runs elsewhere\), not both/],
  ['metrics not a Registry', { runner, metrics: { metrics () { return '' } } }, /^Invalid option "metrics": expected a prom-client Registry \(new Registry\(\), or prom-client's default `register`\) \(got \{\}\)$/],
  ['a misspelt metrics option', { runner, metric: {} }, /^Invalid option "metric": unknown option \(did you mean metrics\?\); known: /],
  ['tracing not boolean', { runner, tracing: 'otel' }, /^Invalid option "tracing": expected a boolean \(got "otel"\)$/],
  ['runner.metrics not a function', { runner: { run: runner, metrics: {} } }, /^Invalid option "runner.metrics": expected a function \(got \{\}\)$/],
  ['maxThreadStateBytes 0', { runner, maxThreadStateBytes: 0 }, /^Invalid option "maxThreadStateBytes": expected an integer from 2 to 1073741824 \(got 0\)$/],
  ['threadRetention 0 (a thread would go before its next message)', { runner, threadRetention: 0 }, /^Invalid option "threadRetention": expected an integer from 1 to 2147483647 \(got 0\)$/],
  ['maxThreadsPerIdentity not a number', { runner, maxThreadsPerIdentity: 'many' }, /^Invalid option "maxThreadsPerIdentity": expected an integer from 1 to 1048576 \(got "many"\)$/],
  ['holdInputFor negative', { runner, holdInputFor: -1 }, /^Invalid option "holdInputFor": expected an integer from 0 to 2147483647, or Infinity \(never interrupt\) \(got -1\)$/],
  ['holdInputFor -Infinity', { runner, holdInputFor: -Infinity }, /^Invalid option "holdInputFor": expected an integer from 0 to 2147483647, or Infinity \(never interrupt\) \(got -Infinity\)$/],
  ['holdInputFor in words', { runner, holdInputFor: '5s' }, /^Invalid option "holdInputFor": .* \(got "5s"\)$/],
  ['threadStateTimeout 0 (no runner could hand over its state)', { runner, threadStateTimeout: 0 }, /^Invalid option "threadStateTimeout": expected an integer from 1 to 2147483647 \(got 0\)$/],
  ['runs not a factory', { runs: 'redis://127.0.0.1' }, /^Invalid option "runs": expected what redisRuns\(\{ url \}\) returns \(got "redis:\/\/127.0.0.1"\)$/],
  ['agUi neither true nor an object', { runner, agUi: '/ag-ui' }, /^Invalid option "agUi": expected true or an object \{ path\?, onDisconnect\?, bodyLimit\? \} \(got "\/ag-ui"\)$/],
  ['agUi.path with a parameter', { runner, agUi: { path: '/ag-ui/:id' } }, /^Invalid option "agUi.path": expected a path starting with "\/" of letters, digits and \. _ ~ - \(no parameters, no trailing "\/"\) \(got "\/ag-ui\/:id"\)$/],
  ['agUi.onDisconnect neither cancel nor continue', { runner, agUi: { onDisconnect: 'close' } }, /^Invalid option "agUi.onDisconnect": expected "cancel" or "continue" \(got "close"\)$/],
  ['agUi.bodyLimit under 1 KiB', { runner, agUi: { bodyLimit: 10 } }, /^Invalid option "agUi.bodyLimit": expected an integer from 1024 to 1073741824 \(got 10\)$/],
  ['a misspelt agUi field', { runner, agUi: { pth: '/x' } }, /^Invalid option "agUi.pth": unknown option \(did you mean path\?\); known: path, onDisconnect, bodyLimit \(got \["\/x"\]\)$/]
]

for (const [name, opts, message] of bad) {
  t.test(`registration fails: ${name}`, async (t) => {
    const app = Fastify()
    t.after(() => app.close())
    await t.rejects(async () => { await app.register(autogenStream, opts as unknown as AutogenStreamOptions).ready() }, { code: 'AGS_INVALID_OPTION', message })
  })
}

t.test('holdInputFor takes Infinity (never interrupt) and 0 (at once)', async (t) => {
  const { normalizeOptions } = await import('../lib/options.js')
  t.equal(normalizeOptions({ runner, holdInputFor: Infinity }).holdInputFor, Infinity)
  t.equal(normalizeOptions({ runner, holdInputFor: 0 }).holdInputFor, 0)
  t.equal(normalizeOptions({ runner }).holdInputFor, 5000)
})

t.test("the caller's options object is left as it was", async (t) => {
  const opts = Object.freeze({ runner, path: '/x', websocket: Object.freeze({ options: Object.freeze({ maxPayload: 10_000 }) }) })
  const app = Fastify()
  t.after(() => app.close())
  await app.register(autogenStream, opts as AutogenStreamOptions)
  await app.ready()
  t.same(Object.keys(opts), ['runner', 'path', 'websocket'])
  t.equal(app.websocketServer.options.maxPayload, 10_000, "the user's ws options win")
  t.equal(app.websocketServer.options.perMessageDeflate, false, 'permessage-deflate is off by default')
})

t.test('the decorator is a read-only view', async (t) => {
  const app = Fastify()
  t.after(() => app.close())
  await app.register(autogenStream, { runner })
  await app.ready()
  t.same({ connections: app.autogenStream.connections, runs: app.autogenStream.runs }, { connections: 0, runs: 0 })
  t.same({ ...app.autogenStream.counters }, { connections: 0, runsStarted: 0, frames: 0, tokens: 0, bytes: 0, cancels: 0, errors: 0 })
  t.throws(() => { (app.autogenStream as { runs: number }).runs = 3 })
  t.ok(Object.isFrozen(app.autogenStream))
})

t.test("Fastify's own register options pass, and pythonRunner refuses unknown options too", async (t) => {
  const app = Fastify()
  t.after(() => app.close())
  await app.register(autogenStream, { runner, logLevel: 'warn' } as AutogenStreamOptions)
  await app.ready()
  t.ok(app.hasRoute({ method: 'GET', url: '/autogen' }))
  t.throws(() => pythonRunner({ factory: 'm:f', worker: 3 } as unknown as PythonRunnerOptions), {
    code: 'AGS_INVALID_OPTION',
    message: /^Invalid option "pythonRunner.worker": unknown option \(did you mean workers\?\); known: factory, python, workers, /
  })
})

t.test('agUi: true adds the AG-UI routes at their default path; false, or nothing, adds none', async (t) => {
  const routes = async (agUi: AutogenStreamOptions['agUi']): Promise<boolean[]> => {
    const app = Fastify()
    t.after(() => app.close())
    await app.register(autogenStream, { runner, ...(agUi === undefined ? {} : { agUi }) })
    await app.ready()
    return [
      app.hasRoute({ method: 'POST', url: '/ag-ui' }),
      app.hasRoute({ method: 'GET', url: '/ag-ui/runs/:runId' }),
      app.hasRoute({ method: 'DELETE', url: '/ag-ui/runs/:runId' }),
      app.hasRoute({ method: 'POST', url: '/ag-ui/runs/:runId/input' })
    ]
  }
  t.same(await routes(true), [true, true, true, true])
  t.same(await routes(false), [false, false, false, false])
  t.same(await routes(undefined), [false, false, false, false])
  const app = Fastify()
  t.after(() => app.close())
  await app.register(autogenStream, { runner, agUi: { path: '/agents/support' } })
  await app.ready()
  t.ok(app.hasRoute({ method: 'POST', url: '/agents/support' }))
})
