import t from 'tap'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { pythonRunner, type RunErrorFrame } from '../lib/index.js'
import { startServer, Client } from './fixtures/server.js'

const fake = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'fake-worker', 'python')

// A client that cycles start/cancel frees its run slot as soon as each
// `cancelled` is written, while its start lines still wait for the worker:
// without a bound, Node queued 298 MiB for a worker that was busy.
t.test('a worker that does not read its stdin takes no new run past maxQueuedBytes: AGS_WORKER_BUSY, and Node holds at most that much', async (t) => {
  const maxQueuedBytes = 256 * 1024
  // heartbeatTimeout 0: a deaf worker also answers no heartbeat, and this test is about what Node queues for it, not about killing it.
  const runner = pythonRunner({ python: fake, factory: 'fake:factory', workers: 1, maxQueuedBytes, shutdownTimeout: 200, heartbeatTimeout: 0 })
  const { app, url } = await startServer({ runner, maxPayload: 1 << 20, maxRunsPerConnection: 100, maxRunsPerIdentity: 0 })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  c.send({ type: 'start', runId: 'deaf', task: 'deaf' })
  await c.until(() => c.run('deaf').length === 1)

  // 80 starts of 60 KiB (4.8 MiB) for a worker that reads none of them.
  const n = 80
  const task = 'x'.repeat(60 * 1024)
  for (let i = 0; i < n; i++) c.send({ type: 'start', runId: `r${i}`, task })
  // Runs take a worker in the order they come: once the last is settled, all are.
  await c.until(() => c.run(`r${n - 1}`).length === 2)
  const ends = Array.from({ length: n }, (_, i) => c.run(`r${i}`).map((f) => f.type === 'error' ? (f as RunErrorFrame).code : f.type).join(','))
  const accepted = ends.filter((e) => e === 'started').length
  t.same(ends.slice(accepted), Array(n - accepted).fill('started,AGS_WORKER_BUSY'), 'once the backlog is over the bound, every further run is refused')
  // Beyond Node's own bound, the kernel took some before the backlog grew:
  // a child's stdin is a socketpair whose buffer is the machine's
  // net.core.wmem_default (208 KiB here, more on some machines), and the
  // worker's own read buffer. 1 MiB covers both; all 80 is what no bound gives.
  const kernel = 1024 * 1024
  t.ok(accepted >= 1 && accepted * task.length <= maxQueuedBytes + kernel + task.length, `${accepted} runs of 60 KiB were queued before the refusals (all ${n} were, before the bound)`)
  t.equal((c.run(`r${n - 1}`).at(-1) as RunErrorFrame).message, `Every Python worker has more than maxQueuedBytes (${maxQueuedBytes}) of messages it has not read yet; try again later`)
})
