import t from 'tap'
import { bridgeSession, examplesRunner } from './fixtures/python.js'
import { Client, startServer } from './fixtures/server.js'
import type { AutoGenEvent, EventFrame, ResultFrame, RunnerObject, TokenFrame } from '../lib/index.js'

t.test('every AgentChat message and event type reaches the client; images as base64', async (t) => {
  const { c } = await bridgeSession(t)
  c.send({ type: 'start', runId: 'all', task: 'x', options: { example: 'every_type' } })
  const frames = await c.untilEnded('all')
  const types = frames.flatMap((f) => f.type === 'event' ? [(f as EventFrame).event.type] : f.type === 'token' ? ['ModelClientStreamingChunkEvent'] : [])
  const expected = [
    'TextMessage', 'MultiModalMessage', 'StopMessage', 'HandoffMessage', 'ToolCallSummaryMessage', 'StructuredMessage',
    'ToolCallRequestEvent', 'ToolCallExecutionEvent', 'MemoryQueryEvent', 'UserInputRequestedEvent',
    'ModelClientStreamingChunkEvent', 'ThoughtEvent', 'SelectSpeakerEvent', 'CodeGenerationEvent', 'CodeExecutionEvent'
  ]
  for (const type of expected) t.ok(types.some((x) => x === type || x.startsWith(`${type}[`)), `${type} arrived`)
  const multimodal = frames.filter((f): f is EventFrame => f.type === 'event').map((f) => f.event as Record<string, any>)
    .find((e) => e.type === 'MultiModalMessage')
  const image = (multimodal?.content as Array<string | { data: string }>).find((p) => typeof p === 'object') as { data: string }
  t.ok(Buffer.from(image.data, 'base64').subarray(1, 4).toString() === 'PNG', 'the image arrives as base64 PNG data')
  t.ok(frames.filter((f): f is TokenFrame => f.type === 'token').length >= 1)
  t.equal((frames.at(-1) as ResultFrame).type, 'result')
})

t.test('plain chunks sent compact (`chunks` lines) reach the client byte for byte as the whole items do (--full-items)', async (t) => {
  /** One run of the tricky_chunks example: the raw frames the client got, and the events the runner yielded. */
  async function once (env: Record<string, string>, protocol = 'autogen-stream.v1'): Promise<{ raw: string[], events: Array<Record<string, unknown>> }> {
    const runner = examplesRunner({ env })
    const events: Array<Record<string, unknown>> = []
    const recording: RunnerObject = {
      init: (log) => runner.init(log),
      start: () => runner.start(),
      close: () => runner.close(),
      async * run (request, context) {
        for await (const event of runner.run(request, context) as AsyncIterable<AutoGenEvent>) {
          events.push(event as Record<string, unknown>)
          yield event
        }
      }
    }
    // One frame per chunk, whatever the timing: merged frames would depend on it.
    const { app, url } = await startServer({ runner: recording, coalesceTokens: false })
    t.after(() => app.close())
    const c = await Client.connect(url, { protocols: [protocol] })
    t.after(() => c.close())
    const raw: string[] = []
    c.ws.on('message', (data) => raw.push(data.toString()))
    c.send({ type: 'start', runId: 'tricky', task: 'go', options: { example: 'tricky_chunks' } })
    await c.untilEnded('tricky')
    return { raw, events }
  }
  const compact = await once({})
  const full = await once({ AUTOGEN_STREAM_FULL_ITEMS: '1' })

  t.same(compact.raw, full.raw, 'the same frames, byte for byte')
  // v2: frames as logged; `started` carries a random resume token.
  const [compact2, full2] = [await once({}, 'autogen-stream.v2'), await once({ AUTOGEN_STREAM_FULL_ITEMS: '1' }, 'autogen-stream.v2')]
  t.same(compact2.raw.slice(1), full2.raw.slice(1), 'the same frames, byte for byte, in v2')
  t.equal(compact2.raw.length, compact.raw.length)
  const tokens = compact.raw.map((r) => JSON.parse(r) as TokenFrame).filter((f) => f.type === 'token')
  const texts = ['é', ' 😀 中文', ' \u2028\u2029', ' with usage', ' "quoted" \\ back\\slash', '\nnew\nline\t\r', ' with metadata', '', 'aside', '\x00\x1f\x7f\x80', ' {"ev":"end","run":"x"}', ' \ufeff\u{1F9D1}\u200d\u{1F4BB} end']
  t.same(tokens.map((f) => f.text), texts, 'every chunk is a token frame with the text AutoGen produced')
  t.same(tokens.map((f) => [f.source, f.full_message_id]), texts.map((x) => x === 'aside' ? ['critic', null] : ['writer', 'm1']))

  // What crossed from Python: plain chunks as their four fields, the others whole.
  const chunkEvents = (events: Array<Record<string, unknown>>) => events.filter((e) => e.type === 'ModelClientStreamingChunkEvent')
  const whole = chunkEvents(compact.events).filter((e) => 'id' in e).map((e) => e.id)
  t.same(whole, ['c-usage', 'c-meta'], 'compact: only the chunks with models_usage or metadata came whole')
  t.same(chunkEvents(compact.events).filter((e) => !('id' in e)).map((e) => Object.keys(e)), texts.filter((x) => !x.startsWith(' with')).map(() => ['type', 'source', 'content', 'full_message_id']))
  t.same(chunkEvents(compact.events).find((e) => e.id === 'c-usage')?.models_usage, { prompt_tokens: 3, completion_tokens: 5 })
  t.ok(chunkEvents(full.events).every((e) => typeof e.id === 'string' && typeof e.created_at === 'string'), 'full: every chunk whole')
})
