import t, { type Test } from 'tap'
import { examplesRunner } from './fixtures/python.js'
import { startServer, Client } from './fixtures/server.js'
import type { ResultFrame } from '../lib/index.js'

// What a Python worker sees of the server's environment is explicit: the
// system variables it needs, plus what the app names; a secret it does not
// name stays in the server.
async function probe (t: Test, opts: Parameters<typeof examplesRunner>[0], names: string[]): Promise<Record<string, string | null>> {
  const runner = examplesRunner(opts)
  const { app, url } = await startServer({ runner })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  c.send({ type: 'start', runId: 'env', task: 'x', options: { test_factory: 'env_probe', names } })
  const result = (await c.untilEnded('env')).at(-1) as ResultFrame
  return JSON.parse(String(result.result.messages[0]?.content)) as Record<string, string | null>
}

t.test('a server secret that is not passed is invisible in the worker; a named one and the system ones are there', async (t) => {
  process.env.AGS_TEST_SERVER_SECRET = 'db-password'
  process.env.OPENAI_API_KEY = 'sk-test'
  t.teardown(() => { delete process.env.AGS_TEST_SERVER_SECRET; delete process.env.OPENAI_API_KEY })
  const names = ['AGS_TEST_SERVER_SECRET', 'OPENAI_API_KEY', 'PATH', 'EXTRA']
  t.same(await probe(t, { passEnv: ['OPENAI_API_KEY'], env: { EXTRA: 'set by the app' } }, names), {
    AGS_TEST_SERVER_SECRET: null,
    OPENAI_API_KEY: 'sk-test',
    PATH: process.env.PATH,
    EXTRA: 'set by the app'
  })
  t.same(await probe(t, {}, names), { AGS_TEST_SERVER_SECRET: null, OPENAI_API_KEY: null, PATH: process.env.PATH, EXTRA: null }, 'by default: no secret at all')
  t.same(await probe(t, { passEnv: ['*'] }, ['AGS_TEST_SERVER_SECRET']), { AGS_TEST_SERVER_SECRET: 'db-password' }, "['*'] passes everything, on purpose")
})
