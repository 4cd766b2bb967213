import t, { type Test } from 'tap'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { pythonRunner, type RunErrorFrame } from '../lib/index.js'
import { startServer, Client, logCollector, waitFor } from './fixtures/server.js'

// A worker written in JS that writes what a real one never should (test/fixtures/fake-worker).
const fake = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'fake-worker', 'python')

async function session (t: Test) {
  const runner = pythonRunner({ python: fake, factory: 'fake:factory', workers: 1, maxLineBytes: 64 * 1024 })
  const logs = logCollector()
  const { app, url } = await startServer({ runner }, undefined, logs.stream)
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  await runner.ready()
  return { runner, c, logs }
}

const cases: Array<[task: string, code: string, message: RegExp]> = [
  ['nan', 'AGS_BAD_LINE', /could not be read/],
  ['garbage', 'AGS_BAD_LINE', /could not be read/],
  ['huge', 'AGS_LINE_TOO_LONG', /longer than maxLineBytes \(65536 bytes\)/]
]

for (const [task, code, message] of cases) {
  t.test(`a worker line "${task}" ends its run with ${code}; nothing is dropped silently, the worker and the next run go on`, async (t) => {
    const { runner, c, logs } = await session(t)
    const [pid] = runner.pids
    c.send({ type: 'start', runId: 'bad', task })
    const frames = await c.untilEnded('bad')
    t.same(frames.map((f) => f.type), ['started', 'error'])
    const last = frames.at(-1) as RunErrorFrame
    t.equal(last.code, code)
    t.match(last.message, message)
    t.ok(logs.lines.some((l) => l.code === code && typeof l.detail === 'string'), 'the line is described in the server log')
    // Node told the worker to drop the run too.
    await waitFor(() => runner.loads[0] === 0)
    t.same(await runner.stats(), [{ ev: 'stats', id: 1, active: 0, runs: {}, pulled_total: 0, started_total: 0, cancelled: [] }])

    c.send({ type: 'start', runId: 'next', task: 'ok' })
    t.same((await c.untilEnded('next')).map((f) => f.type), ['started', 'token', 'result'])
    t.equal(runner.pids[0], pid, 'same worker process')
  })
}

t.test('an item for a run key nobody has is ignored; the run it came with is unaffected', async (t) => {
  const { c } = await session(t)
  c.send({ type: 'start', runId: 'r', task: 'stray' })
  t.same((await c.untilEnded('r')).map((f) => f.type), ['started', 'token', 'result'])
})

t.test('a line naming no run, then the worker exits: its runs end WORKER_DIED with a generic message; the detail goes to the log', async (t) => {
  const { c, logs } = await session(t)
  c.send({ type: 'start', runId: 'r', task: 'crash' })
  const last = (await c.untilEnded('r')).at(-1) as RunErrorFrame
  t.same([last.type, last.code, last.message], ['error', 'AGS_WORKER_DIED', 'The Python worker running this run exited'])
  t.ok(logs.lines.some((l) => l.detail === 'the Python worker exited (code 3)'), 'the exit status is in the server log')
})
