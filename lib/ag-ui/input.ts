import { Type, type Static } from 'typebox'
import { Compile } from 'typebox/compile'
import { describeErrors } from '../schemas/frames.js'

/*
 * AG-UI's RunAgentInput (the body of a POST), checked before anything is
 * made of it. Open like AG-UI's own schema (fields this version does not
 * know are ignored), but every field the plugin reads has its type checked
 * here: the client is not trusted. The ids become a run's runId and a
 * thread's threadId, so they follow those rules (1–128 characters of
 * A-Z a-z 0-9 . _ : -); AG-UI's clients make UUIDs, which do.
 */

const Id = Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9._:-]+$' })
const Part = Type.Object({ type: Type.String() }, { additionalProperties: true })
const Message = Type.Object({
  id: Type.String(),
  role: Type.String(),
  content: Type.Optional(Type.Union([Type.String(), Type.Array(Part)]))
}, { additionalProperties: true })

export const RunAgentInputSchema = Type.Object({
  threadId: Id,
  runId: Id,
  parentRunId: Type.Optional(Type.String()),
  protocolVersion: Type.Optional(Type.String()),
  state: Type.Optional(Type.Unknown()),
  messages: Type.Array(Message),
  tools: Type.Optional(Type.Array(Type.Object({ name: Type.String() }, { additionalProperties: true }))),
  context: Type.Optional(Type.Array(Type.Object({ description: Type.String(), value: Type.String() }, { additionalProperties: true }))),
  forwardedProps: Type.Optional(Type.Unknown()),
  resume: Type.Optional(Type.Array(Type.Object({
    interruptId: Type.String({ minLength: 1, maxLength: 256 }),
    status: Type.Union([Type.Literal('resolved'), Type.Literal('cancelled')]),
    payload: Type.Optional(Type.Unknown())
  }, { additionalProperties: true })))
}, { additionalProperties: true })

export type RunAgentInput = Static<typeof RunAgentInputSchema>

const check = Compile(RunAgentInputSchema)

/** What a RunAgentInput becomes for the run: a `start` of the WebSocket protocol, in effect. */
export interface AgUiStart {
  threadId: string
  runId: string
  /** The last user message's text; none for a continuation (`answer` is its input). */
  task?: string
  options: Record<string, unknown>
  /** The answer to the interrupt that ended the thread's previous run (RunAgentInput.resume). */
  answer?: { requestId: string, content: string }
}

/** The key of the runner's options that holds AG-UI's tools, context and state. */
export const AG_UI_OPTIONS_KEY = 'agUi'

/** A parsed body as a run, or the one-line reason it cannot be one. */
export function toStart (value: unknown): AgUiStart | { reason: string } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { reason: 'the body must be a JSON object (RunAgentInput)' }
  if (!check.Check(value)) return { reason: describeErrors(check.Errors(value)) }
  const input = value as RunAgentInput
  const options = optionsOf(input)
  if (typeof options === 'string') return { reason: options }
  const start: AgUiStart = { threadId: input.threadId, runId: input.runId, options }
  const resume = input.resume ?? []
  if (resume.length > 1) return { reason: '/resume: AutoGen waits for one input at a time; send one entry' }
  const entry = resume[0]
  if (entry?.status === 'resolved') {
    // A continuation: its input is the answer; the conversation so far is the thread's saved state.
    start.answer = { requestId: entry.interruptId, content: answerText(entry.payload) }
    return start
  }
  // No resume, or an interrupt abandoned (`cancelled`): an ordinary run.
  const task = lastUserText(input.messages)
  if (typeof task !== 'string') return task
  start.task = task
  return start
}

/** The last user message's text: AutoGen's task. Earlier messages are the thread's history, which the server keeps. */
function lastUserText (messages: RunAgentInput['messages']): string | { reason: string } {
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i] as RunAgentInput['messages'][number]
    if (message.role !== 'user') continue
    const content = message.content
    if (content === undefined) return { reason: `/messages/${i}: a user message without content` }
    let text = ''
    if (typeof content === 'string') {
      text = content
    } else {
      for (const [j, part] of (content as Array<{ type: string, text?: unknown }>).entries()) {
        if (part.type !== 'text' || typeof part.text !== 'string') return { reason: `/messages/${i}/content/${j}: only text parts are supported (got ${JSON.stringify(String(part.type).slice(0, 32))})` }
        text += part.text
      }
    }
    // An empty task is a client's slip more likely than a message: said, not run.
    if (text === '') return { reason: `/messages/${i}: a user message without text` }
    return text
  }
  return { reason: '/messages: no user message to run' }
}

/** forwardedProps become the runner's options (what a `start` frame's `options` are); AG-UI's tools, context and state go under `agUi`. */
function optionsOf (input: RunAgentInput): Record<string, unknown> | string {
  const props = input.forwardedProps
  if (props !== undefined && props !== null && (typeof props !== 'object' || Array.isArray(props))) return '/forwardedProps: must be an object (it becomes the runner\'s options)'
  const options: Record<string, unknown> = { ...(props as Record<string, unknown> | null | undefined) }
  if (Object.hasOwn(options, AG_UI_OPTIONS_KEY)) return `/forwardedProps/${AG_UI_OPTIONS_KEY}: reserved (the server puts AG-UI's tools, context and state there)`
  const extras: Record<string, unknown> = {}
  if (input.tools !== undefined && input.tools.length > 0) extras.tools = input.tools
  if (input.context !== undefined && input.context.length > 0) extras.context = input.context
  const state = input.state
  // The stock client always sends `state: {}`: nothing to pass on.
  if (state !== undefined && state !== null && !(typeof state === 'object' && !Array.isArray(state) && Object.keys(state).length === 0)) extras.state = state
  if (Object.keys(extras).length > 0) options[AG_UI_OPTIONS_KEY] = extras
  return options
}

/** An interrupt's answer as AutoGen's input: a string as it is, anything else as JSON. */
function answerText (payload: unknown): string {
  if (typeof payload === 'string') return payload
  if (payload === undefined) return ''
  return JSON.stringify(payload)
}
