/*
 * The client's public surface, from the published declarations
 * (`fastify-autogen-stream/client`; run `npm run build` first).
 */
import { describe, expect, test } from 'tstyche'
import { WebSocket } from 'ws'
import type * as clientApi from 'fastify-autogen-stream/client'
import { createClient, isAutogenStreamError, type AutogenStreamError, type ClientRun, type ErrorCode, type TranscriptEntry } from 'fastify-autogen-stream/client'
import type { TaskResult, TokenFrame } from 'fastify-autogen-stream'

describe('fastify-autogen-stream/client', () => {
  test('exports exactly these values', () => {
    expect<keyof typeof clientApi>().type.toBe<
      'createClient' | 'Client' | 'CLIENT_OPTIONS' | 'ClientRun' | 'AutogenStreamError' | 'isAutogenStreamError' | 'CLIENT_ERROR_CODES' | 'Transcript' | 'textOf'
    >()
  })

  test('ws and the platform WebSocket fit without a cast; unknown options do not', () => {
    expect(createClient({ url: 'ws://x', WebSocket })).type.not.toRaiseError()
    expect(createClient({ url: 'ws://x', reconect: false })).type.toRaiseError()
    expect(createClient({ url: 'ws://x', reconnect: { retries: 3, minDelay: 10, maxDelay: 100, jitter: 0.2 } })).type.not.toRaiseError()
  })

  test('a run: typed frames, events and result', () => {
    const run = createClient({ url: 'ws://x' }).start('task')
    expect(run).type.toBe<ClientRun>()
    expect(run.result).type.toBe<Promise<TaskResult>>()
    expect(run.messages).type.toBe<readonly TranscriptEntry[]>()
    run.on('token', (frame) => { expect(frame).type.toBe<TokenFrame>() })
    run.on('error', (err) => { expect(err).type.toBe<AutogenStreamError>() })
    expect(run.on('nope', () => {})).type.toRaiseError()
  })

  test('error codes narrow to the server\'s table and the client\'s own', () => {
    const err: unknown = undefined
    if (isAutogenStreamError(err, 'AGS_BUSY')) expect(err.code).type.toBe<'AGS_BUSY'>()
    expect<'AGS_BUSY'>().type.toBeAssignableTo<ErrorCode>()
  })
})
