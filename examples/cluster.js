// `npm run start:cluster`: the demo beyond one machine, on this one.
//
//   redis-server (REDIS_URL, or one started here on port 6390, persistence off)
//   2 worker hosts: python -m autogen_stream_bridge.redis_host (the demo team)
//   2 gateways:     the demo page and /autogen on ports 3000 and 3001
//
// Open either page, start a run, then kill the gateway it came from
// (`kill -9 <pid>`, printed below): the page's client reconnects to the
// other gateway and the run goes on from where it was. Each part can run on
// its own machine: see docs/redis.md ("Running it").
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..')
const host = process.env.HOST ?? '127.0.0.1'
const ports = [Number(process.env.PORT ?? 3000), Number(process.env.PORT ?? 3000) + 1]
const gateways = ports.map((port) => `ws://${host}:${port}/autogen`)

// A gateway: this file again, with --gateway <port> <redis url>.
if (process.argv[2] === '--gateway') {
  const [port, redisUrl] = [Number(process.argv[3]), process.argv[4]]
  const { createDemoApp } = await import('./demo-app.js')
  const { redisRuns } = await import('../dist/redis/index.js')
  const app = await createDemoApp({
    runs: redisRuns({ url: redisUrl }),
    gateways,
    // The page of one gateway may open the socket of the other.
    plugin: { allowedOrigins: ports.flatMap((p) => [`http://${host}:${p}`, `http://localhost:${p}`]) }
  })
  await app.listen({ port, host })
  for (const signal of ['SIGINT', 'SIGTERM']) process.once(signal, () => { app.close().then(() => process.exit(0)) })
  // The cluster process holds our stdin: when it is gone, so are we.
  process.stdin.resume()
  process.stdin.once('end', () => process.exit(0))
} else {
  const children = []
  const start = (name, cmd, args, env = {}, stdin = 'ignore') => {
    const child = spawn(cmd, args, { stdio: [stdin, 'inherit', 'inherit'], env: { ...process.env, ...env } })
    child.on('exit', (code, signal) => console.log(`[cluster] ${name} (pid ${child.pid}) exited: ${signal ?? code}`))
    children.push(child)
    return child
  }
  let redisUrl = process.env.REDIS_URL
  if (redisUrl === undefined) {
    const server = process.env.REDIS_SERVER ?? '/usr/bin/redis-server'
    if (!existsSync(server)) {
      console.error('No redis-server (install it: apt-get install -y redis-server), and REDIS_URL is not set.')
      process.exit(1)
    }
    const port = 6390
    start('redis-server', server, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning', '--dir', mkdtempSync(join(tmpdir(), 'ags-cluster-'))])
    redisUrl = `redis://127.0.0.1:${port}`
    // Give it a moment to listen: the hosts and gateways retry anyway.
    await new Promise((resolve) => setTimeout(resolve, 300))
  }
  const python = process.env.PYTHON ?? join(root, '.venv', 'bin', 'python')
  const factory = process.env.AUTOGEN_FACTORY ?? 'autogen_stream_bridge.demo:create_team'
  const hosts = [1, 2].map((i) => start(`worker host ${i}`, python, ['-m', 'autogen_stream_bridge.redis_host', '--redis', redisUrl, '--factory', factory, '--concurrency', '4', '--host-id', `demo-host-${i}`, '--parent-pid', String(process.pid)]))
  const gws = ports.map((port) => start(`gateway :${port}`, process.execPath, [fileURLToPath(import.meta.url), '--gateway', String(port), redisUrl], { LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn' }, 'pipe'))
  console.log(`
autogen-stream cluster: Redis ${redisUrl}
  gateways:     http://${host}:${ports[0]}/  (pid ${gws[0].pid})   http://${host}:${ports[1]}/  (pid ${gws[1].pid})
  worker hosts: pid ${hosts[0].pid}, pid ${hosts[1].pid}
Start a run on one page, then kill its gateway (kill -9 <pid>): the page resumes on the other.
Ctrl-C stops everything.
`)
  const stop = () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGTERM')
    setTimeout(() => process.exit(0), 1500).unref()
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}
