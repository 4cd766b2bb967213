import t from 'tap'
import { bridgeSession } from './fixtures/python.js'
import type { EventFrame, ResultFrame, TokenFrame } from '../lib/index.js'

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
