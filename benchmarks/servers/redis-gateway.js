// fastify-autogen-stream as a scale-out gateway: `runs: redisRuns({ url })`
// instead of a runner, runs on Python worker hosts behind Redis Streams
// (docs/redis.md). The same options as servers/plugin.js otherwise.
import Fastify from 'fastify'
import autogenStream from '../../dist/index.js'
import { redisRuns } from '../../dist/redis/index.js'
import { config, loadTestOptions, serve } from './common.js'

const app = Fastify({ logger: false })
await app.register(autogenStream, {
  ...loadTestOptions,
  // Everything else (maxRunLag, retainEvents, retainBytes, retainAfterEnd, onDisconnect) at the plugin's defaults,
  // and redisRuns' own (readWindow 64, heartbeat 1000 ms, readerTtl 10 s): what the benchmark reports.
  runs: redisRuns({ url: config.redisUrl })
})
await app.listen({ port: 0, host: '127.0.0.1' })

serve(app.server.address().port, () => {
  let buffered = 0
  for (const ws of app.websocketServer.clients) buffered += ws.bufferedAmount
  const { connections } = app.autogenStream
  return { buffered, connections, pid: process.pid }
}, () => app.close())
