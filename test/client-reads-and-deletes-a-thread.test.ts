import t from 'tap'
import { startServer } from './fixtures/server.js'
import { historyRunner } from './fixtures/runners.js'
import { nodeClient } from './fixtures/client.js'
import { AutogenStreamError } from '../lib/client/index.js'

/*
 * The client library asks for a thread (its runs and usage) and deletes
 * it; the server's refusals reach the caller as the one error class with
 * the server's code, and the connection goes on.
 */
t.test('client.thread() lists a thread\'s runs and usage; deleteThread() forgets it; unknown and busy threads reject with their codes', async (t) => {
  const { app, url } = await startServer({ runner: historyRunner(), authenticate: () => ({ id: 'alice' }) })
  t.after(() => app.close())
  const client = nodeClient(url)
  t.after(() => client.close())

  await client.start('m1', { runId: 'r1', threadId: 'chat' }).result
  await client.start('m2', { runId: 'r2', threadId: 'chat' }).result
  const info = await client.thread('chat')
  t.same(info.runs.map((r) => [r.runId, r.outcome]), [['r1', 'result'], ['r2', 'result']])
  t.same(info.usage, { prompt_tokens: 30, completion_tokens: 4 }, 'the runs\' usage summed')

  const unknown = await client.thread('nope').catch((err: unknown) => err)
  t.ok(unknown instanceof AutogenStreamError && unknown.code === 'AGS_UNKNOWN_THREAD', 'an unknown thread rejects with AGS_UNKNOWN_THREAD')

  const held = client.start('m3', { runId: 'r3', threadId: 'chat', options: { hold: true } })
  await new Promise<void>((resolve) => { held.on('event', () => resolve()) })
  const busy = await client.deleteThread('chat').catch((err: unknown) => err)
  t.ok(busy instanceof AutogenStreamError && busy.code === 'AGS_THREAD_BUSY', 'a thread with an active run is not deleted')
  held.stop()
  await held.result

  // Asked at once, answered each by its own thread.
  const [deleted, other] = await Promise.allSettled([client.deleteThread('chat'), client.thread('chat-2')])
  t.equal(deleted.status, 'fulfilled')
  t.equal(other.status, 'rejected')
  const gone = await client.thread('chat').catch((err: unknown) => err)
  t.ok(gone instanceof AutogenStreamError && gone.code === 'AGS_UNKNOWN_THREAD', 'deleted')
  const fresh = await client.start('again', { runId: 'r4', threadId: 'chat' }).result
  t.same(fresh.messages.map((m) => (m as { content?: unknown }).content), ['seen: again'], 'a deleted thread starts anew')
})
