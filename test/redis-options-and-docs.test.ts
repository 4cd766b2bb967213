import t from 'tap'
import { docsColumn } from './fixtures/docs.js'
import Fastify from 'fastify'
import autogenStream from '../lib/index.js'
import { REDIS_OPTION_NAMES, redisRuns } from '../lib/redis/index.js'

/*
 * redisRuns checks its options once, where they are given (unknown ones
 * refused, with the closest name); docs/redis.md's options table is the
 * code's. No Redis needed.
 */

t.test('docs/redis.md lists exactly the options of redisRuns', async (t) => {
  t.same(docsColumn('redis.md', 'option').sort(), [...REDIS_OPTION_NAMES].sort())
})

t.test('bad options are refused where they are given', async (t) => {
  t.throws(() => redisRuns({ ulr: 'redis://x' } as never), { code: 'AGS_INVALID_OPTION', message: /"redisRuns.ulr": unknown option \(did you mean url\?\)/ })
  t.throws(() => redisRuns({ url: 'http://x' }), { message: /"redisRuns.url": expected a redis:\/\/ or rediss:\/\/ URL/ })
  t.throws(() => redisRuns({ readWindow: 0 }), { message: /"redisRuns.readWindow": expected a positive integer \(got 0\)/ })
  t.throws(() => redisRuns({ prefix: '' }), { message: /"redisRuns.prefix": expected a non-empty string/ })
})

t.test('runner and runs together are refused at registration', async (t) => {
  const app = Fastify()
  t.after(() => app.close())
  await t.rejects(async () => { await app.register(autogenStream, { runner: async function * () {}, runs: redisRuns() }).ready() }, { code: 'AGS_INVALID_OPTION', message: /give either runner .* or runs/ })
})
