import t from 'tap'
import { startServer, Client, waitFor } from './fixtures/server.js'
import { historyRunner } from './fixtures/runners.js'

/*
 * Without authenticate, each connection is an anonymous identity of its
 * own: once it closes nobody can continue, list or delete its threads.
 * Kept for threadRetention, they would let every anonymous connection
 * leave maxThreadsPerIdentity states behind for a day.
 */
t.test('an anonymous connection\'s threads are forgotten when it closes', async (t) => {
  const { app, url } = await startServer({ runner: historyRunner() })
  t.after(() => app.close())
  const [one, two] = [await Client.connect(url), await Client.connect(url)]
  t.after(() => two.close())
  for (const c of [one, two]) {
    for (const threadId of ['a', 'b']) {
      c.send({ type: 'start', runId: threadId, threadId, task: 'hi' })
      await c.untilEnded(threadId)
    }
  }
  t.equal(app.autogenStream.threads, 4, 'each connection has its own two threads')
  one.close()
  await waitFor(() => app.autogenStream.connections === 1)
  t.equal(app.autogenStream.threads, 2, 'the closed connection\'s threads went with it; the other\'s are kept')
  two.send({ type: 'start', runId: 'again', threadId: 'a', task: 'again' })
  t.match((await two.untilEnded('again')).at(-1), { type: 'result', result: { messages: [{ content: 'seen: hi | again' }] } })
})

t.test('an authenticated identity\'s threads outlive its connection', async (t) => {
  const { app, url } = await startServer({ runner: historyRunner(), authenticate: () => ({ id: 'alice' }) })
  t.after(() => app.close())
  const first = await Client.connect(url)
  first.send({ type: 'start', runId: 'r', threadId: 'a', task: 'hi' })
  await first.untilEnded('r')
  first.close()
  await waitFor(() => app.autogenStream.connections === 0)
  t.equal(app.autogenStream.threads, 1)
  const back = await Client.connect(url)
  t.after(() => back.close())
  back.send({ type: 'start', runId: 'r2', threadId: 'a', task: 'again' })
  t.match((await back.untilEnded('r2')).at(-1), { type: 'result', result: { messages: [{ content: 'seen: hi | again' }] } })
})
