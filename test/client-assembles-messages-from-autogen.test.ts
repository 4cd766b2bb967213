import t, { type Test } from 'tap'
import { examplesRunner } from './fixtures/python.js'
import { startServer } from './fixtures/server.js'
import { nodeClient, terminateAll, untilFrame } from './fixtures/client.js'
import type { ClientRun, TranscriptEntry } from '../lib/client/index.js'

/*
 * run.messages against real AutoGen teams through the Python bridge:
 * AutoGen's own objects in the transcript (run.events) are exactly the
 * TaskResult's messages, in order; every streamed message ends as the text
 * of its final message, which equals what was streamed; tool calls carry
 * their results.
 */

async function serve (t: Test) {
  const runner = examplesRunner({ workers: 1 })
  const { app, url } = await startServer({ runner })
  t.after(() => app.close())
  return { app, url }
}

/** The text streamed for each message, by the entry it went to. */
function streamedText (run: ClientRun): Map<string, string> {
  const text = new Map<string, string>()
  run.on('message', (entry: TranscriptEntry) => {
    if (entry.kind === 'message' && entry.streaming) text.set(entry.key, entry.text)
  })
  return text
}

t.test('a tool team: the transcript is the TaskResult, streamed text equals the final messages, calls carry results', async (t) => {
  const { url } = await serve(t)
  const client = nodeClient(url)
  t.after(() => client.close())
  const run = client.start('Weather in Paris?', { options: { example: 'tool_team', words: 300 } })
  const streamed = streamedText(run)
  const result = await run.result
  t.same(run.events, result.messages, 'AutoGen\'s objects, in the order of TaskResult.messages')
  t.same(run.messages.map((m) => m.kind), ['message', 'tool_calls', 'tool_results', 'message', 'message'])
  const calls = run.messages.flatMap((m) => m.kind === 'tool_calls' ? m.calls : [])
  t.same(calls, [{ id: 'call_1', name: 'get_weather', arguments: '{"city": "Paris"}', result: 'The weather in Paris is sunny, 21 degrees.', isError: false }])
  const messages = run.messages.filter((m): m is Extract<TranscriptEntry, { kind: 'message' }> => m.kind === 'message')
  t.same(messages.map((m) => [m.source, m.type, m.streaming]), [['user', 'TextMessage', false], ['researcher', 'TextMessage', false], ['writer', 'TextMessage', false]])
  for (const m of messages.slice(1)) {
    t.equal(streamed.get(m.key), m.text, `${m.source}: the streamed text is the final message's`)
    t.equal(m.text.split(' ').length, 300)
  }
})

t.test('a human in the loop: respond() answers, the reply is in the transcript', async (t) => {
  const { url } = await serve(t)
  const client = nodeClient(url)
  t.after(() => client.close())
  const run = client.start('Plan the release', { options: { example: 'user_proxy_team' } })
  const prompts: string[] = []
  run.on('input_request', (f) => {
    prompts.push(f.prompt)
    run.respond(f.requestId, prompts.length === 1 ? 'Add a rollback step' : 'APPROVE')
  })
  const result = await run.result
  t.same(run.events, result.messages)
  t.equal(prompts.length, 2)
  const users = run.messages.filter((m) => m.kind === 'message' && m.source === 'user').map((m) => m.kind === 'message' && m.text)
  t.same(users, ['Plan the release', 'Add a rollback step', 'APPROVE'])
  t.equal(run.messages.filter((m) => m.kind === 'input_requested').length, 2)
  t.equal(run.pendingInputs.size, 0)
})

t.test('cut twice while two agents stream 3000 words each: the same transcript as AutoGen\'s result', async (t) => {
  const { app, url } = await serve(t)
  const client = nodeClient(url)
  t.after(() => client.close())
  const run = client.start('go', { options: { example: 'long_team', words: 3000 } })
  const streamed = streamedText(run)
  // Cut while the writer streams, then while the critic does.
  for (const [source, words] of [['writer', 500], ['critic', 1000]] as const) {
    await untilFrame(run, () => run.messages.some((m) => m.kind === 'message' && m.streaming && m.source === source && m.text.split(' ').length >= words))
    t.equal(terminateAll(app), 1)
  }
  const result = await run.result
  t.same(run.events, result.messages)
  const messages = run.messages.filter((m): m is Extract<TranscriptEntry, { kind: 'message' }> => m.kind === 'message')
  t.same(messages.map((m) => m.source), ['user', 'writer', 'critic'])
  for (const m of messages.slice(1)) t.equal(streamed.get(m.key), m.text, `${m.source}: streamed across the cuts, equal to the final message`)
  t.equal(client.states.filter((s) => s.state === 'reconnecting').length, 2, 'it reconnected after each cut')
})
