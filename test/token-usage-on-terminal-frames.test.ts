import t from 'tap'
import { startServer, Client } from './fixtures/server.js'
import { bridgeSession } from './fixtures/python.js'
import { chunk, text } from './fixtures/events.js'
import type { AutoGenEvent, EventFrame, RunErrorFrame, CancelledFrame, ResultFrame, ServerFrame } from '../lib/index.js'
import { RunError } from '../lib/index.js'

/*
 * A terminal frame carries the run's token usage once a model reported
 * some: the models_usage of its stream's messages and events, summed; the
 * TaskResult's copies of those messages are not counted twice; what is not
 * a count is ignored.
 */

const usage = (prompt: unknown, completion: unknown): Record<string, unknown> => ({ prompt_tokens: prompt, completion_tokens: completion })
const withUsage = (event: AutoGenEvent, u: unknown): AutoGenEvent => ({ ...event, models_usage: u } as AutoGenEvent)

t.test('result: the stream\'s models_usage summed, the TaskResult\'s copies not counted again, non-counts ignored', async (t) => {
  const call = withUsage({ type: 'ToolCallRequestEvent', source: 'a', content: [], metadata: {} } as unknown as AutoGenEvent, usage(12, 8))
  const answer = withUsage(text('done', 'a'), usage(30, 5))
  const { app, url } = await startServer({
    runner: async function * () {
      yield call
      yield chunk('do', 'm1')
      yield withUsage(chunk('ne', 'm1'), usage(1, 1))
      // Not counts: negative, fractional, strings, booleans, over 2^53, not an object.
      yield withUsage(text('x', 'a'), usage(-5, 2.5))
      yield withUsage(text('y', 'a'), usage('7', true))
      yield withUsage(text('z', 'a'), usage(2 ** 60, null))
      yield withUsage(text('w', 'a'), 'lots')
      yield answer
      yield { type: 'TaskResult', messages: [call, answer], stop_reason: null } as AutoGenEvent
    }
  })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  c.send({ type: 'start', runId: 'r', task: 'x' })
  const end = (await c.untilEnded('r')).at(-1) as ResultFrame
  t.equal(end.type, 'result')
  t.same(end.usage, { prompt_tokens: 43, completion_tokens: 14 })
})

t.test('cancelled and error frames carry what the run used before it ended; no usage when no model reported any (unknown is not 0)', async (t) => {
  let release = (): void => {}
  const held = new Promise<void>((resolve) => { release = resolve })
  const { app, url } = await startServer({
    runner: async function * (req, ctx) {
      if (req.runId === 'none') {
        yield text('no usage here', 'a')
        yield { type: 'TaskResult', messages: [], stop_reason: null } as AutoGenEvent
        return
      }
      yield withUsage(text('first', 'a'), usage(10, 4))
      if (req.runId === 'fails') throw new RunError('APP_QUOTA', 'Out of quota')
      await new Promise((resolve) => { ctx.signal.addEventListener('abort', resolve); held.then(resolve, resolve) })
    }
  })
  t.after(() => { release(); return app.close() })
  const c = await Client.connect(url)
  t.after(() => c.close())

  c.send({ type: 'start', runId: 'cancelled', task: 'x' })
  await c.until(() => c.run('cancelled').some((f: ServerFrame) => f.type === 'event'))
  c.send({ type: 'cancel', runId: 'cancelled' })
  const cancelled = (await c.untilEnded('cancelled')).at(-1) as CancelledFrame
  t.equal(cancelled.type, 'cancelled')
  t.same(cancelled.usage, { prompt_tokens: 10, completion_tokens: 4 })

  c.send({ type: 'start', runId: 'fails', task: 'x' })
  const failed = (await c.untilEnded('fails')).at(-1) as RunErrorFrame
  t.same([failed.type, failed.code], ['error', 'APP_QUOTA'])
  t.same(failed.usage, { prompt_tokens: 10, completion_tokens: 4 })

  c.send({ type: 'start', runId: 'none', task: 'x' })
  const none = (await c.untilEnded('none')).at(-1) as ResultFrame
  t.equal(none.type, 'result')
  t.notOk('usage' in none, 'a run whose models reported nothing has no usage')
})

t.test('through the Python bridge with real AutoGen: a tool call\'s usage is the result\'s', async (t) => {
  const { c } = await bridgeSession(t)
  c.send({ type: 'start', runId: 'tool', task: 'Weather in Paris?', options: { example: 'tool_agent' } })
  const frames = await c.untilEnded('tool')
  const reported = frames.filter((f): f is EventFrame => f.type === 'event')
    .map((f) => (f.event as { models_usage?: { prompt_tokens: number, completion_tokens: number } | null }).models_usage)
    .filter((u) => u != null)
  // The example's replay model reports 12 + 8 for its one call (python/tests/bridge_examples.py).
  t.same(reported, [{ prompt_tokens: 12, completion_tokens: 8 }], 'AutoGen put the call\'s usage on one event')
  const end = frames.at(-1) as ResultFrame
  t.equal(end.type, 'result')
  t.same(end.usage, { prompt_tokens: 12, completion_tokens: 8 })
})
