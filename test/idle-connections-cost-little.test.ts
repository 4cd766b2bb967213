import t from 'tap'
import type { AutoGenEvent, RunContext } from '../lib/index.js'
import { result } from './fixtures/events.js'
import { startServer, Client, waitFor } from './fixtures/server.js'

/*
 * Thousands of connections sit idle at once, so a connection costs little
 * more than its socket until it is used: its listeners are functions shared
 * by every connection (no closure per socket), and what only a connection
 * that runs needs (its anonymous identity, its sender, its map of runs, its
 * rate-limit bucket) is made on first use. Made late, it must behave as if
 * made at once: one anonymous identity per connection, the same for all
 * its runs.
 */

t.test('idle connections share their socket listeners', async (t) => {
  const { app, url } = await startServer({ runner: async function * () { yield result() } })
  t.after(() => app.close())
  const clients = await Promise.all([Client.connect(url), Client.connect(url), Client.connect(url)])
  t.after(() => { for (const c of clients) c.close() })
  await waitFor(() => app.websocketServer.clients.size === 3)
  const sockets = [...app.websocketServer.clients]
  for (const event of ['message', 'close', 'pong'] as const) {
    const lists = sockets.map((ws) => ws.listeners(event))
    const shared = lists[0]?.filter((fn) => lists.every((list) => list.includes(fn))) ?? []
    t.ok(shared.length >= 1, `a '${event}' listener shared by every connection`)
    t.ok(lists.every((list) => list.length === lists[0]?.length), `as many '${event}' listeners on each socket`)
  }
})

t.test('an anonymous identity made on first use: one per connection, the same for all its runs', async (t) => {
  const seen: Array<{ runId: string, id: string }> = []
  const runner = async function * (req: { runId: string }, ctx: RunContext): AsyncGenerator<AutoGenEvent> {
    seen.push({ runId: req.runId, id: ctx.identity.id })
    yield result()
  }
  const { app, url } = await startServer({ runner })
  t.after(() => app.close())
  const a = await Client.connect(url)
  const b = await Client.connect(url)
  t.after(() => { a.close(); b.close() })
  // a says nothing for a while: its identity is made by its first start, not at the upgrade.
  b.send({ type: 'start', runId: 'b1', task: 'x' })
  await b.untilEnded('b1')
  a.send({ type: 'start', runId: 'a1', task: 'x' })
  await a.untilEnded('a1')
  a.send({ type: 'start', runId: 'a2', task: 'x' })
  await a.untilEnded('a2')
  a.send({ type: 'list' })
  const listed = await a.until((frames) => frames.some((f) => f.type === 'runs'))
  const ids = new Map(seen.map((s) => [s.runId, s.id]))
  t.match(ids.get('a1'), /^anonymous:[0-9a-f-]{36}$/)
  t.equal(ids.get('a2'), ids.get('a1'), 'both runs of a are of one identity')
  t.not(ids.get('b1'), ids.get('a1'), 'b is someone else')
  const runs = (listed.find((f) => f.type === 'runs') as { runs: Array<{ runId: string }> }).runs.map((r) => r.runId).sort()
  t.same(runs, ['a1', 'a2'], "a's list holds its own runs, not b's")
})
