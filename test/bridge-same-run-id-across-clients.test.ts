import t, { type Test } from 'tap'
import { startServer, Client, waitFor, seqProblems, isTerminal } from './fixtures/server.js'
import { examplesRunner, workerStats } from './fixtures/python.js'
import type { ConnectionErrorFrame, ResultFrame, ServerFrame } from '../lib/index.js'

// Run ids are the client's and scoped to its connection; on a worker a run
// is known by a key the server makes. Before that, two clients that picked
// the same runId on one worker got each other's frames or hung.

function taskOf (frames: ServerFrame[]): unknown {
  const result = frames.find((f) => f.type === 'result') as ResultFrame | undefined
  return result?.result.messages[0]?.content
}

/**
 * The run's frames once it ended, or once its start was refused (a
 * connection error naming it, which has no seq): a refusal fails the test
 * at once instead of leaving untilEnded waiting for ever.
 */
async function endedOrRefused (c: Client, runId: string): Promise<{ frames: ReturnType<Client['run']>, refused: ConnectionErrorFrame[] }> {
  const refusals = (): ConnectionErrorFrame[] => c.frames.filter((f): f is ConnectionErrorFrame => f.type === 'error' && !('seq' in f) && f.ref?.runId === runId)
  await c.until(() => c.run(runId).some(isTerminal) || refusals().length > 0)
  return { frames: c.run(runId), refused: refusals() }
}

async function twoClientsOnOneWorker (t: Test) {
  const runner = examplesRunner({ workers: 1 })
  const { app, url } = await startServer({ runner })
  t.after(() => app.close())
  const a = await Client.connect(url)
  const b = await Client.connect(url)
  t.after(() => { a.close(); b.close() })
  return { runner, app, a, b }
}

t.test('two clients start "r1" on one worker: each gets its own run, its own result, and nothing of the other', async (t) => {
  const { runner, app, a, b } = await twoClientsOnOneWorker(t)
  a.send({ type: 'start', runId: 'r1', task: 'task of A', options: { example: 'long_stream', words: 200 } })
  b.send({ type: 'start', runId: 'r1', task: 'task of B', options: { example: 'long_stream', words: 200 } })
  const [fa, fb] = await Promise.all([a.untilEnded('r1'), b.untilEnded('r1')])
  for (const [frames, task] of [[fa, 'task of A'], [fb, 'task of B']] as const) {
    t.same(seqProblems(frames), [], `${task}: seq 0..n without a gap`)
    t.equal(frames.filter((f) => f.type === 'started').length, 1, `${task}: one started`)
    t.equal(frames.filter((f) => f.type === 'token').reduce((n, f) => n + (f.type === 'token' ? f.chunks : 0), 0), 200, `${task}: its 200 words`)
    t.equal(frames.at(-1)?.type, 'result')
    t.equal(taskOf(frames), task, `${task}: the result is of its own task`)
  }
  t.equal(a.frames.length, fa.length, 'A got no frame that is not of its run')
  t.equal(b.frames.length, fb.length, 'B got no frame that is not of its run')
  await waitFor(() => app.autogenStream.runs === 0 && runner.loads[0] === 0)
  t.equal((await workerStats(runner))[0]?.active, 0)
})

t.test('A cancels its "r1": B\'s "r1" on the same worker is untouched and finishes', async (t) => {
  const { runner, a, b } = await twoClientsOnOneWorker(t)
  a.send({ type: 'start', runId: 'r1', task: 'A', options: { example: 'long_stream', words: 1_000_000 } })
  await a.until(() => a.run('r1').some((f) => f.type === 'token'))
  b.send({ type: 'start', runId: 'r1', task: 'B', options: { example: 'long_stream', words: 300 } })
  await b.until(() => b.run('r1').some((f) => f.type === 'token'))
  a.send({ type: 'cancel', runId: 'r1' })
  const fa = await a.untilEnded('r1')
  t.same(seqProblems(fa), [], 'A: seq without gaps, up to its cancelled')
  t.same(fa.at(-1), { type: 'cancelled', runId: 'r1', seq: fa.at(-1)?.seq, reason: 'client' })
  const fb = await b.untilEnded('r1')
  t.equal(fb.at(-1)?.type, 'result')
  t.equal(taskOf(fb), 'B')
  await waitFor(() => runner.loads[0] === 0)
  t.equal((await workerStats(runner))[0]?.active, 0)
})

t.test('25 clients each start r0..r3 on 2 workers: all 100 runs finish with their own result', async (t) => {
  const runner = examplesRunner({ workers: 2 })
  const { app, url } = await startServer({ runner })
  t.after(() => app.close())
  const clients = await Promise.all(Array.from({ length: 25 }, () => Client.connect(url)))
  t.after(() => { for (const c of clients) c.close() })
  for (const [i, c] of clients.entries()) {
    for (let r = 0; r < 4; r++) c.send({ type: 'start', runId: `r${r}`, task: `client ${i} run ${r}`, options: { example: 'long_stream', words: 20 } })
  }
  let results = 0
  for (const [i, c] of clients.entries()) {
    for (let r = 0; r < 4; r++) {
      const { frames, refused } = await endedOrRefused(c, `r${r}`)
      if (refused.length > 0) t.fail(`client ${i} r${r} was refused: ${JSON.stringify(refused)}`)
      else if (frames.at(-1)?.type === 'result' && taskOf(frames) === `client ${i} run ${r}`) results++
    }
    t.equal(c.frames.length, [0, 1, 2, 3].reduce((n, r) => n + c.run(`r${r}`).length, 0), `client ${i}: only frames of its own runs`)
  }
  t.equal(results, 100, 'every run ended with the result of its own task')
  await waitFor(() => app.autogenStream.runs === 0 && runner.loads.every((n) => n === 0))
  t.same((await workerStats(runner)).map((s) => s?.active), [0, 0])
})
