import t from 'tap'
import { startServer, Client } from './fixtures/server.js'
import { chunk, result } from './fixtures/events.js'
import { RunError, type RunErrorFrame, type AutoGenEvent } from '../lib/index.js'

const runners: Record<string, () => AsyncIterable<AutoGenEvent> | Iterable<AutoGenEvent>> = {
  throwsSync: () => { throw new Error('secret internal detail') },
  rejects: async function * () { yield chunk('a', 'm'); throw new Error('secret stack') },
  runError: async function * () { yield chunk('a', 'm'); throw new RunError('MODEL_UNAVAILABLE', 'The model is unavailable') },
  noResult: async function * () { yield chunk('a', 'm') },
  notIterable: () => 42 as unknown as Iterable<AutoGenEvent>,
  badEvent: async function * () { yield 'just a string' as unknown as AutoGenEvent },
  ok: async function * () { yield chunk('fine', 'm'); yield result([], 'ok') }
}

t.test('a failing runner ends only its own run, with a code and no internals', async (t) => {
  const logs: string[] = []
  const { app, url } = await startServer({
    maxRunsPerConnection: 10,
    runner: (req) => (runners[req.runId] as () => AsyncIterable<AutoGenEvent>)()
  })
  t.after(() => app.close())
  app.log.error = ((obj: unknown) => { logs.push(JSON.stringify(obj)) }) as typeof app.log.error
  const c = await Client.connect(url)
  t.after(() => c.close())
  for (const runId of Object.keys(runners)) c.send({ type: 'start', runId, task: 'x' })
  await c.until(() => Object.keys(runners).every((id) => c.run(id).some((f) => ['result', 'error'].includes(f.type))))

  const ending = (id: string): RunErrorFrame => c.run(id).at(-1) as RunErrorFrame
  t.same([ending('throwsSync').code, ending('throwsSync').message], ['AGS_RUNNER_ERROR', 'The runner failed'])
  t.same([ending('rejects').code, ending('rejects').message], ['AGS_RUNNER_ERROR', 'The runner failed'])
  t.same(c.run('rejects').map((f) => f.type), ['started', 'token', 'error'], 'events before the failure are delivered first')
  t.same([ending('runError').code, ending('runError').message], ['MODEL_UNAVAILABLE', 'The model is unavailable'])
  t.equal(ending('noResult').code, 'AGS_RUNNER_NO_RESULT')
  t.equal(ending('notIterable').code, 'AGS_RUNNER_ERROR')
  t.equal(ending('badEvent').code, 'AGS_INVALID_EVENT')
  t.equal(ending('ok').type, 'result', 'the healthy run on the same connection finished')
  for (const id of Object.keys(runners)) {
    const frames = c.run(id)
    t.same(frames.map((f) => f.seq), frames.map((_, i) => i), `${id}: seq without gaps`)
    t.notMatch(JSON.stringify(frames), /secret|at .*\.ts/, `${id}: no internal detail reaches the client`)
  }
  t.equal(app.autogenStream.counters.errors, 6)
})
