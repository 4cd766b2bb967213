/*
 * The package's public surface: what `import ... from 'fastify-autogen-stream'`
 * gives, and nothing more. Imports the published declarations (run
 * `npm run build` first).
 */
import { describe, expect, test } from 'tstyche'
import type * as api from 'fastify-autogen-stream'
// Internals stay internal: "exports" closes deep imports.
// @ts-expect-error Cannot find module 'fastify-autogen-stream/dist/options.js'
export type { Config } from 'fastify-autogen-stream/dist/options.js'

describe('fastify-autogen-stream', () => {
  test('exports exactly these values', () => {
    expect<keyof typeof api>().type.toBe<
      | 'default'
      | 'autogenStream'
      | 'pythonRunner'
      | 'RunError'
      | 'ErrorTable'
      | 'PROTOCOL'
      | 'PROTOCOLS'
      | 'CANCEL_REASONS'
      | 'schemas'
    >()
  })

  test('schemas holds the event schemas, with no frame schemas or validators', () => {
    expect<keyof typeof api.schemas>().type.toBe<
      | 'RequestUsage' | 'FunctionCall' | 'FunctionExecutionResult' | 'ImageData' | 'MemoryContent' | 'CodeBlock' | 'CodeResult'
      | 'TextMessage' | 'MultiModalMessage' | 'StopMessage' | 'HandoffMessage' | 'ToolCallSummaryMessage' | 'StructuredMessage'
      | 'ToolCallRequestEvent' | 'ToolCallExecutionEvent' | 'MemoryQueryEvent' | 'UserInputRequestedEvent'
      | 'ModelClientStreamingChunkEvent' | 'ThoughtEvent' | 'SelectSpeakerEvent' | 'CodeGenerationEvent' | 'CodeExecutionEvent'
      | 'TaskResult' | 'UnknownEvent' | 'knownEvents' | 'AutoGenEvent'
    >()
  })
})
