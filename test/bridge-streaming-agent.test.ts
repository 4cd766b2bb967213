import t from 'tap'
import { bridgeSession, workerStats } from './fixtures/python.js'
import { seqProblems } from './fixtures/server.js'
import type { EventFrame, ResultFrame, TokenFrame } from '../lib/index.js'

t.test('a streaming AssistantAgent through the Python bridge', async (t) => {
  const { runner, c } = await bridgeSession(t)
  await runner.ready()
  const [pid] = runner.pids

  c.send({ type: 'start', runId: 'a1', task: 'Tell me about streams', options: { example: 'streaming_agent' } })
  const frames = await c.untilEnded('a1')
  // Chunks that reach Node in one batch of lines go out merged (v2: a token frame stands for seq - chunks + 1 .. seq).
  t.same(seqProblems(frames), [], 'seq without gaps')
  t.equal(frames[0]?.type, 'started')
  const tokens = frames.filter((f): f is TokenFrame => f.type === 'token')
  const chunks = tokens.reduce((n, f) => n + f.chunks, 0)
  t.ok(chunks > 10, `${chunks} chunks in ${tokens.length} token frames`)
  t.ok(tokens.every((f) => f.source === 'assistant' && f.full_message_id === tokens[0]?.full_message_id))
  const events = frames.filter((f): f is EventFrame => f.type === 'event').map((f) => f.event as { type: string, content?: unknown, source?: string, id?: string })
  t.same(events.map((e) => e.type), ['TextMessage', 'TextMessage'], 'the user task, then the final answer')
  const final = events[1]
  t.equal(tokens.map((f) => f.text).join(''), final?.content, 'token text joined equals the final TextMessage')
  t.equal(tokens[0]?.full_message_id, final?.id, 'full_message_id names the final message')
  const result = frames.at(-1) as ResultFrame
  t.equal(result.type, 'result')
  t.equal(result.result.type, 'TaskResult')
  t.equal(result.result.messages.length, 2)
  t.equal(result.result.stop_reason, null)

  // Warm: the same worker process serves the next run; AutoGen is not imported again.
  c.send({ type: 'start', runId: 'a2', task: 'again', options: { example: 'streaming_agent', text: 'one two three' } })
  const second = await c.untilEnded('a2')
  t.equal(second.filter((f): f is TokenFrame => f.type === 'token').map((f) => f.text).join(''), 'one two three')
  t.same(runner.pids, [pid], 'same worker pid')
  const [stats] = await workerStats(runner)
  t.equal(stats?.started_total, 2)
  t.equal(stats?.active, 0)
})
