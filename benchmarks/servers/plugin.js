// fastify-autogen-stream with an in-process JS runner (or the Python bridge).
import { fileURLToPath } from 'node:url'
import Fastify from 'fastify'
import autogenStream, { pythonRunner } from '../../dist/index.js'
import { config, loadTestOptions, serve, syntheticRun, pulledSummary, rssOf, traceSocket, traceSummary } from './common.js'

const app = Fastify({ logger: false })
// long_stream is one of the test example factories (python/tests), not part of the package.
const python = config.python === true
  ? pythonRunner({ factory: 'bridge_examples:long_stream', pythonPath: [fileURLToPath(new URL('../../python/tests', import.meta.url))], workers: config.workers ?? 2 })
  : undefined
await app.register(autogenStream, {
  ...loadTestOptions,
  // The resume scenario: options sized so that a run's log keeps the whole
  // run (maxRunLag, retainEvents, retainBytes, retainAfterEnd, maxWatchersPerRun),
  // and one authenticated identity that owns the run on every connection.
  ...(config.resume ?? {}),
  ...(config.identity === undefined ? {} : { authenticate: () => ({ id: config.identity }) }),
  runner: python ?? ((req, ctx) => syntheticRun(req.runId, Number(req.options.tokens), Number(req.options.rate ?? 0), ctx.signal))
})
// Diagnostics only (BENCH_CONFIG.trace): the plugin's sender reaches the same ws and socket objects.
app.websocketServer.on('connection', traceSocket)
await app.listen({ port: 0, host: '127.0.0.1' })
if (python !== undefined) await python.ready()

serve(app.server.address().port, () => {
  let buffered = 0
  for (const ws of app.websocketServer.clients) buffered += ws.bufferedAmount
  const workers = python === undefined ? [] : python.pids.map((pid) => ({ pid, rss: pid === undefined ? 0 : rssOf(pid) }))
  const { connections, logBytes, runsRetained } = app.autogenStream
  return { buffered, connections, logBytes, runsRetained, counters: { ...app.autogenStream.counters }, workers, ...pulledSummary(), trace: traceSummary() }
}, () => app.close())
