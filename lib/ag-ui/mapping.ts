import type { RunFrame, Usage } from '../schemas/frames.js'
import { AG_UI_PROTOCOL_VERSION, type AgUiEvent, type TokenUsage } from './events.js'

/*
 * A run's frames (docs/protocol.md) as AG-UI events (docs/ag-ui.md has the
 * table, one example per row). Pure: no I/O, no clock, no randomness, so the
 * same frames from the same state always give the same events, which is what
 * lets a resumed stream (route.ts) send exactly the events a cut one lost.
 *
 *   frame ──map()──▶ [event, event, …]      one frame, zero or more events
 *
 * What spans frames is the mapper's state: the text message each AutoGen
 * source is streaming, the step (speaker) that is on, whether the task's
 * own echo may still come. AG-UI's rules depend on it: nothing may finish
 * the run while a message or step is open, so the terminal frame closes
 * whatever is.
 */

/**
 * The terminal frame a thread run ends with when its human input waited
 * longer than `holdInputFor` (continued by a `start` carrying the answer).
 * Declared here, not imported: this build may not know the frame yet.
 */
export interface InterruptedFrame {
  type: 'interrupted'
  runId: string
  seq: number
  threadId?: string
  requestId: string
  prompt: string
  source?: string
  usage?: Usage
  stateError?: { code: string, message: string }
}

export type MappedFrame = RunFrame | InterruptedFrame

/** What the mapper remembers between frames; a plain value, kept per seq for resumes (route.ts). */
export interface MapperState {
  /** AutoGen yields the task's own messages first: until something else comes, messages from `user` are that echo. */
  readonly taskEcho: boolean
  /** Open text messages: [AutoGen source, its full_message_id ('' for none), the AG-UI messageId]. */
  readonly messages: ReadonlyArray<readonly [string, string, string]>
  /** The step (speaker) that is on. */
  readonly step: string | undefined
  /** Sources that asked for human input (a UserProxyAgent): their messages are the human's, role `user`. */
  readonly humans: readonly string[]
}

export const INITIAL_STATE: MapperState = Object.freeze({ taskEcho: true, messages: Object.freeze([]), step: undefined, humans: Object.freeze([]) })

/** The CUSTOM names of the frames that are ours, not AutoGen's (AutoGen types keep their own name). */
export const CUSTOM_NAMES = {
  queued: 'autogen-stream.queued',
  inputRequest: 'autogen-stream.input_request'
} as const

/** AgentChat's chat messages (a turn of an agent, or the task); every other type is an event. */
const CHAT_MESSAGES = new Set(['TextMessage', 'MultiModalMessage', 'StopMessage', 'HandoffMessage', 'ToolCallSummaryMessage'])
const isChatMessage = (type: string): boolean => CHAT_MESSAGES.has(type) || type.startsWith('StructuredMessage')
/** The chat messages whose string content is the agent's answer, as text. */
const TEXT_MESSAGES = new Set(['TextMessage', 'StopMessage', 'ToolCallSummaryMessage'])

type Json = Record<string, unknown>

export class AgUiMapper {
  readonly #threadId: string
  readonly #runId: string
  /** The run continues an interrupted one: its task is the human's answer, which the client sent as `resume`, not as a message. */
  readonly #continuation: boolean
  #taskEcho: boolean
  /** Open text messages by AutoGen source: the full_message_id they stream and their AG-UI messageId. */
  readonly #messages: Map<string, { key: string, messageId: string }>
  #step: string | undefined
  readonly #humans: Set<string>
  #ended = false

  constructor (ids: { threadId: string, runId: string, continuation?: boolean }, state: MapperState = INITIAL_STATE) {
    this.#threadId = ids.threadId
    this.#runId = ids.runId
    this.#continuation = ids.continuation === true
    this.#taskEcho = state.taskEcho
    this.#messages = new Map(state.messages.map(([source, key, messageId]) => [source, { key, messageId }]))
    this.#step = state.step
    this.#humans = new Set(state.humans)
  }

  /** The state after the frames mapped so far (a new value each time it is asked for). */
  get state (): MapperState {
    return {
      taskEcho: this.#taskEcho,
      messages: [...this.#messages].map(([source, m]) => [source, m.key, m.messageId] as const),
      step: this.#step,
      humans: [...this.#humans]
    }
  }

  /** The events of one frame, in order. Nothing follows a terminal frame's. */
  map (frame: MappedFrame): AgUiEvent[] {
    if (this.#ended) return []
    const out: AgUiEvent[] = []
    switch (frame.type) {
      case 'started':
        out.push({ type: 'RUN_STARTED', threadId: this.#threadId, runId: this.#runId, protocolVersion: AG_UI_PROTOCOL_VERSION })
        break
      case 'queued':
        out.push({ type: 'CUSTOM', name: CUSTOM_NAMES.queued, value: { position: frame.position } })
        break
      case 'token':
        this.#taskEcho = false
        this.#token(out, frame.source, frame.full_message_id, frame.text, frame.seq - frame.chunks + 1)
        break
      case 'event':
        this.#event(out, frame.event as unknown as Json, frame.seq)
        break
      case 'input_request': {
        const value: Json = { requestId: frame.requestId, prompt: frame.prompt }
        // Answered meanwhile (from elsewhere): shown, not to be asked again.
        if (frame.answered === true) value.answered = true
        out.push({ type: 'CUSTOM', name: CUSTOM_NAMES.inputRequest, value })
        break
      }
      case 'result': {
        this.#closeAll(out)
        const finished: AgUiEvent = { type: 'RUN_FINISHED', threadId: this.#threadId, runId: this.#runId, result: frame.result, outcome: { type: 'success' } }
        this.#end(out, finished, frame.usage, frame.stateError)
        break
      }
      case 'cancelled': {
        this.#closeAll(out)
        const finished: AgUiEvent = { type: 'RUN_FINISHED', threadId: this.#threadId, runId: this.#runId, outcome: { type: 'cancelled' } }
        this.#end(out, finished, frame.usage, frame.stateError, { reason: frame.reason })
        break
      }
      case 'error': {
        this.#closeAll(out)
        this.#end(out, { type: 'RUN_ERROR', message: frame.message, code: frame.code }, frame.usage, frame.stateError)
        break
      }
      case 'interrupted': {
        this.#closeAll(out)
        const interrupt: { id: string, reason: string, message?: string, metadata?: Json } = { id: frame.requestId, reason: 'input_required' }
        if (frame.prompt !== '') interrupt.message = frame.prompt
        if (typeof frame.source === 'string') interrupt.metadata = { source: frame.source }
        const finished: AgUiEvent = { type: 'RUN_FINISHED', threadId: this.#threadId, runId: this.#runId, outcome: { type: 'interrupt', interrupts: [interrupt] } }
        this.#end(out, finished, frame.usage, frame.stateError)
        break
      }
    }
    return out
  }

  #end (out: AgUiEvent[], terminal: AgUiEvent, usage: Usage | undefined, stateError: { code: string, message: string } | undefined, extra?: Json): void {
    const tokens = usageOf(usage)
    if (tokens !== undefined) (terminal as { usage?: TokenUsage[] }).usage = tokens
    // What AG-UI has no field for goes in metadata, under our name.
    if (stateError !== undefined || extra !== undefined) terminal.metadata = { 'autogen-stream': { ...extra, ...(stateError !== undefined ? { stateError } : {}) } }
    out.push(terminal)
    this.#ended = true
  }

  /** Streaming chunks: one message per AutoGen source and full_message_id, opened by its first chunk. */
  #token (out: AgUiEvent[], source: string, fullMessageId: string | null, text: string, firstSeq: number): void {
    const key = fullMessageId ?? ''
    const open = this.#messages.get(source)
    let messageId
    if (open?.key === key) {
      messageId = open.messageId
    } else {
      if (open !== undefined) this.#closeMessage(out, source)
      // A chunk without a message id names none: the run and its first seq make one, unique in the thread.
      messageId = this.#unused(fullMessageId ?? `${this.#runId}:${firstSeq}`, source)
      this.#messages.set(source, { key, messageId })
      out.push({ type: 'TEXT_MESSAGE_START', messageId, role: 'assistant', name: source })
    }
    out.push({ type: 'TEXT_MESSAGE_CONTENT', messageId, delta: text })
  }

  #closeMessage (out: AgUiEvent[], source: string, rawEvent?: Json): void {
    const open = this.#messages.get(source)
    if (open === undefined) return
    this.#messages.delete(source)
    const end: AgUiEvent = { type: 'TEXT_MESSAGE_END', messageId: open.messageId }
    if (rawEvent !== undefined) end.rawEvent = rawEvent
    out.push(end)
  }

  /** Whatever is open, closed: AG-UI finishes no run with a message or step open. */
  #closeAll (out: AgUiEvent[]): void {
    for (const source of [...this.#messages.keys()]) this.#closeMessage(out, source)
    this.#finishStep(out)
  }

  #finishStep (out: AgUiEvent[]): void {
    if (this.#step === undefined) return
    out.push({ type: 'STEP_FINISHED', stepName: this.#step })
    this.#step = undefined
  }

  #event (out: AgUiEvent[], event: Json, seq: number): void {
    const type = String(event.type)
    const source = typeof event.source === 'string' ? event.source : ''
    const id = typeof event.id === 'string' && event.id !== '' ? event.id : `${this.#runId}:${seq}`
    const start = out.length
    if (isChatMessage(type)) {
      const echo = this.#taskEcho && source === 'user'
      // A continuation's task is the answer to the interrupt: the client sent it as `resume`, not as a message, so it is one (the human's).
      const answer = echo && this.#continuation && TEXT_MESSAGES.has(type) && typeof event.content === 'string'
      if (echo && !answer) {
        // The task, echoed by AutoGen: the client sent it, and has it already.
        out.push(custom(type, event))
        return
      }
      this.#taskEcho = false
      if (answer) this.#humans.add(source)
      if (this.#messages.has(source) && type !== 'HandoffMessage') {
        // The final form of what this source was streaming: its text went out
        // chunk by chunk. (Usually it has the chunks' full_message_id; after a
        // thought AgentChat gives it a new id, so the source is what tells.)
        this.#closeMessage(out, source, event)
        return
      }
      // A handoff ends the source's turn: what it streamed before is over.
      this.#closeMessage(out, source)
      if (type === 'HandoffMessage' && typeof event.target === 'string') this.#handoff(out, event.target)
      else if (TEXT_MESSAGES.has(type) && typeof event.content === 'string') this.#text(out, id, source, event.content, this.#humans.has(source) ? 'user' : 'assistant')
      else out.push(custom(type, event))
    } else {
      this.#taskEcho = false
      if (type === 'ToolCallRequestEvent') this.#toolCalls(out, event, source, id)
      else if (type === 'ToolCallExecutionEvent') this.#toolResults(out, event, id)
      else if (type === 'ThoughtEvent' && typeof event.content === 'string') this.#thought(out, this.#reasoningId(id), event.content)
      else if (type === 'SelectSpeakerEvent' && isStrings(event.content) && event.content.length > 0) this.#speaker(out, event.content.join(', '))
      else {
        // A UserProxyAgent asks: what it says next is the human's answer.
        if (type === 'UserInputRequestedEvent' && source !== '') this.#humans.add(source)
        out.push(custom(type, event))
      }
    }
    // Nothing of the AutoGen item is lost: its JSON rides on the first event
    // made from it (not on what it closed on its way: an earlier message, a step).
    const made = out.slice(start)
    const first = made.find((e) => e.type !== 'TEXT_MESSAGE_END' && e.type !== 'STEP_FINISHED') ?? made[0]
    if (first !== undefined && first.type !== 'CUSTOM' && first.rawEvent === undefined) first.rawEvent = event
  }

  /**
   * An id no open message has: AutoGen's are UUIDs, but a runner of its own
   * may give two sources the same, and AG-UI opens no id twice.
   */
  #unused (id: string, source: string): string {
    let candidate = id
    while ([...this.#messages.values()].some((m) => m.messageId === candidate)) candidate = `${candidate}:${source}`
    return candidate
  }

  #text (out: AgUiEvent[], id: string, source: string, content: string, role: 'assistant' | 'user'): void {
    const messageId = this.#unused(id, source)
    out.push({ type: 'TEXT_MESSAGE_START', messageId, role, name: source })
    out.push({ type: 'TEXT_MESSAGE_CONTENT', messageId, delta: content })
    out.push({ type: 'TEXT_MESSAGE_END', messageId })
  }

  #handoff (out: AgUiEvent[], target: string): void {
    this.#finishStep(out)
    this.#step = target
    out.push({ type: 'STEP_STARTED', stepName: target })
  }

  #speaker (out: AgUiEvent[], name: string): void {
    this.#finishStep(out)
    this.#step = name
    out.push({ type: 'STEP_STARTED', stepName: name })
  }

  #toolCalls (out: AgUiEvent[], event: Json, source: string, id: string): void {
    const calls = event.content
    if (!Array.isArray(calls) || calls.length === 0 || !calls.every(isCall)) {
      out.push(custom('ToolCallRequestEvent', event))
      return
    }
    // The calls belong to the message the agent was streaming, if any; else to a message of their own (the event's id).
    const parentMessageId = this.#messages.get(source)?.messageId ?? id
    this.#closeMessage(out, source)
    for (const call of calls) {
      out.push({ type: 'TOOL_CALL_START', toolCallId: call.id, toolCallName: call.name, parentMessageId })
      out.push({ type: 'TOOL_CALL_ARGS', toolCallId: call.id, delta: call.arguments })
      out.push({ type: 'TOOL_CALL_END', toolCallId: call.id })
    }
  }

  #toolResults (out: AgUiEvent[], event: Json, id: string): void {
    const results = event.content
    if (!Array.isArray(results) || results.length === 0 || !results.every(isResult)) {
      out.push(custom('ToolCallExecutionEvent', event))
      return
    }
    results.forEach((result, i) => {
      const autogen: Json = { name: result.name }
      // AG-UI's TOOL_CALL_RESULT has no error field: AutoGen's is_error goes in metadata.
      if (typeof result.is_error === 'boolean') autogen.is_error = result.is_error
      out.push({ type: 'TOOL_CALL_RESULT', messageId: `${id}:${i}`, toolCallId: result.call_id, content: result.content, role: 'tool', metadata: { autogen } })
    })
  }

  /**
   * AgentChat gives a thought the id of the chunks it streamed before it:
   * that id is the open text message's, and an AG-UI id names one message.
   */
  #reasoningId (id: string): string {
    for (const open of this.#messages.values()) if (open.messageId === id) return `${id}:thought`
    return id
  }

  #thought (out: AgUiEvent[], messageId: string, content: string): void {
    out.push({ type: 'REASONING_START', messageId })
    out.push({ type: 'REASONING_MESSAGE_START', messageId, role: 'reasoning' })
    out.push({ type: 'REASONING_MESSAGE_CONTENT', messageId, delta: content })
    out.push({ type: 'REASONING_MESSAGE_END', messageId })
    out.push({ type: 'REASONING_END', messageId })
  }
}

function custom (name: string, value: unknown): AgUiEvent {
  return { type: 'CUSTOM', name, value }
}

function isStrings (value: unknown): value is string[] {
  return Array.isArray(value) && value.every((v) => typeof v === 'string')
}

function isCall (value: unknown): value is { id: string, name: string, arguments: string } {
  const call = value as Json
  return typeof call === 'object' && call !== null && typeof call.id === 'string' && typeof call.name === 'string' && typeof call.arguments === 'string'
}

function isResult (value: unknown): value is { call_id: string, name: string, content: string, is_error?: unknown } {
  const result = value as Json
  return typeof result === 'object' && result !== null && typeof result.call_id === 'string' && typeof result.content === 'string' && typeof result.name === 'string'
}

/** The run's usage as AG-UI's: one entry (AutoGen's events do not name the model), totals only. */
function usageOf (usage: Usage | undefined): TokenUsage[] | undefined {
  if (usage === undefined) return undefined
  return [{ inputTokens: usage.prompt_tokens, outputTokens: usage.completion_tokens, totalTokens: usage.prompt_tokens + usage.completion_tokens }]
}
