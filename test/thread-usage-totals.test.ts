import t from 'tap'
import { startServer, Client } from './fixtures/server.js'
import { historyRunner } from './fixtures/runners.js'
import { ask, say } from './fixtures/threads.js'
import type { TerminalFrame, Usage } from '../lib/index.js'

t.test("a thread's usage is the sum of its runs' terminal usage, each run listed with its own", async (t) => {
  const { app, url } = await startServer({ runner: historyRunner() })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  const ends: TerminalFrame[] = []
  ends.push(await say(c, 'r1', 'chat', 'm1'))
  ends.push(await say(c, 'r2', 'chat', 'm2'))
  // A cancelled run counts too: its tokens were spent.
  c.send({ type: 'start', runId: 'r3', threadId: 'chat', task: 'm3', options: { hold: true } })
  await c.until(() => c.run('r3').some((f) => f.type === 'event'))
  c.send({ type: 'cancel', runId: 'r3' })
  ends.push((await c.untilEnded('r3')).at(-1) as TerminalFrame)
  t.same(ends.map((f) => f.type), ['result', 'result', 'cancelled'])

  const sum: Usage = { prompt_tokens: 0, completion_tokens: 0 }
  for (const f of ends) {
    sum.prompt_tokens += f.usage?.prompt_tokens ?? 0
    sum.completion_tokens += f.usage?.completion_tokens ?? 0
  }
  t.same(sum, { prompt_tokens: 60, completion_tokens: 6 }, 'what the runner reported: 10 per message seen, 2 per reply')
  const info = await ask(c, { type: 'thread', threadId: 'chat' })
  if (info.type !== 'thread') throw new Error(JSON.stringify(info))
  t.same(info.usage, sum)
  t.same(info.runs.map((r) => r.usage), ends.map((f) => f.usage))
  t.same(info.runs.map((r) => r.outcome), ['result', 'result', 'cancelled'])
  t.ok(info.stateBytes > 0)
  t.ok(info.createdAt <= info.updatedAt)
})
