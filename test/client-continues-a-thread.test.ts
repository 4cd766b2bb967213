import t from 'tap'
import { startServer } from './fixtures/server.js'
import { historyRunner } from './fixtures/runners.js'
import { nodeClient } from './fixtures/client.js'

/*
 * The client library starts runs on a thread: each run's team starts from
 * what the thread's last run saved, and each run's usage comes with its end.
 */
t.test('two runs on one thread through the client: the second sees the first; usage on each', async (t) => {
  const { app, url } = await startServer({ runner: historyRunner(), authenticate: () => ({ id: 'alice' }) })
  t.after(() => app.close())
  const client = nodeClient(url)
  t.after(() => client.close())

  const first = client.start('m1', { threadId: 'chat-1' })
  t.equal(first.threadId, 'chat-1')
  await first.result
  const second = client.start('m2', { threadId: 'chat-1' })
  const result = await second.result
  t.same(result.messages.map((m) => (m as { content?: unknown }).content), ['seen: m1 | m2'], 'the second run\'s team started from the thread\'s state')
  t.same([first.usage, second.usage], [{ prompt_tokens: 10, completion_tokens: 2 }, { prompt_tokens: 20, completion_tokens: 2 }])

  const other = client.start('m1', { threadId: 'chat-2' })
  t.same((await other.result).messages.map((m) => (m as { content?: unknown }).content), ['seen: m1'], 'another thread has its own history')
})
