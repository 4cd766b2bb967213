import type { AutoGenEvent, ToolCallExecutionEvent, ToolCallRequestEvent } from '../schemas/events.js'
import type { EventFrame, TokenFrame } from '../schemas/frames.js'

/*
 * A run's conversation, assembled as it streams (`run.messages`).
 *
 *   token frames ──┐ grouped by full_message_id (or, without one, by the
 *                  │ source's latest unfinished message)
 *                  ▼
 *   [ message (streaming) ] ──── AutoGen's final message with that id
 *                  ▼              replaces the streamed text: it is
 *   [ message (final)     ]       authoritative
 *
 *   ToolCallRequestEvent  → [ tool_calls: {id, name, arguments, result?} ]
 *   ToolCallExecutionEvent→ each result paired into its call by call_id,
 *                           and an entry of its own (so that the entries'
 *                           `event`s are exactly AutoGen's messages)
 *
 * An event that carries the id of a streamed message (AutoGen 0.7 gives a
 * model's ThoughtEvent the chunks' id, and the final message a new one)
 * hands that message to the source's next chat message instead.
 *
 * Entries are mutable and keyed: a UI keeps one node per `key` and
 * redraws the entry a change names. `events()` (entries' `event`s in seq
 * order) is the run's TaskResult.messages (streaming chunks are not in it).
 */

export interface ToolCall {
  id: string
  name: string
  /** The arguments as the model wrote them (JSON text). */
  arguments: string
  /** The tool's output, once its ToolCallExecutionEvent arrived. */
  result?: string
  isError?: boolean
}

interface EntryBase {
  /** Stable for the life of the transcript (`m0`, `m1`, …): the same frames give the same keys. */
  key: string
  /** The agent (or team member) it comes from. */
  source: string
  /** AutoGen's own object, when it has arrived: a final message or an event. */
  event?: AutoGenEvent
  /** The seq of `event`'s frame. */
  seq?: number
}

/** A chat message: streamed text until AutoGen's final message replaces it. */
export interface MessageEntry extends EntryBase {
  kind: 'message'
  /** The `type` of the final message (`TextMessage`, `ToolCallSummaryMessage`, `HandoffMessage`, …), or `streaming`. */
  type: string
  text: string
  streaming: boolean
  fullMessageId: string | null
}
export interface ToolCallsEntry extends EntryBase { kind: 'tool_calls', calls: ToolCall[] }
export interface ToolResultsEntry extends EntryBase { kind: 'tool_results', results: ToolCallExecutionEvent['content'] }
export interface ThoughtEntry extends EntryBase { kind: 'thought', text: string }
export interface SpeakerEntry extends EntryBase { kind: 'speaker', speakers: string[] }
export interface InputRequestedEntry extends EntryBase { kind: 'input_requested', requestId: string }
/** Any other AutoGen event (memory queries, code generation and execution, types from a newer AutoGen). */
export interface OtherEntry extends EntryBase { kind: 'event', type: string }
/** Frames the server no longer kept when this client attached (AGS_RESUME_GAP): seqs `from`..`to` are missing. */
export interface GapEntry { kind: 'gap', key: string, from: number, to: number }

export type TranscriptEntry = MessageEntry | ToolCallsEntry | ToolResultsEntry | ThoughtEntry | SpeakerEntry | InputRequestedEntry | OtherEntry | GapEntry

/** The chat messages (as opposed to events) of AgentChat. */
const CHAT_MESSAGES = new Set(['TextMessage', 'MultiModalMessage', 'StopMessage', 'HandoffMessage', 'ToolCallSummaryMessage'])

function isChatMessage (type: string): boolean {
  return CHAT_MESSAGES.has(type) || type.startsWith('StructuredMessage')
}

/** The display text of a chat message's content. */
export function textOf (event: AutoGenEvent): string {
  const content = (event as { content?: unknown }).content
  if (typeof content === 'string') return content
  if (Array.isArray(content)) return content.map((part) => typeof part === 'string' ? part : '[image]').join('\n')
  const format = (event as { format_string?: unknown }).format_string
  if (typeof format === 'string' && typeof content === 'object' && content !== null) {
    return format.replace(/\{(\w+)\}/g, (all, name: string) => name in content ? String((content as Record<string, unknown>)[name]) : all)
  }
  return content === undefined ? '' : JSON.stringify(content)
}

export class Transcript {
  readonly entries: TranscriptEntry[] = []
  #next = 0
  /** Streaming messages not yet replaced, by full_message_id. */
  readonly #streaming = new Map<string, MessageEntry>()
  /** Streamed messages whose final message will come with another id, by source. */
  readonly #awaitingFinal = new Map<string, MessageEntry>()
  /** Tool calls waiting for their result, by call id. */
  readonly #calls = new Map<string, ToolCall>()

  /** Applies a token frame; returns the entry it changed. */
  token (frame: TokenFrame): TranscriptEntry {
    const id = frame.full_message_id
    let entry = id === null ? this.#openWithoutId(frame.source) : this.#streaming.get(id)
    if (entry === undefined) {
      entry = { kind: 'message', key: this.#key(), source: frame.source, type: 'streaming', text: '', streaming: true, fullMessageId: id }
      this.entries.push(entry)
      if (id !== null) this.#streaming.set(id, entry)
    }
    entry.text += frame.text
    return entry
  }

  /** Applies an event frame; returns the entry it added or changed. */
  event (frame: EventFrame): TranscriptEntry {
    const event = frame.event
    const type = typeof event.type === 'string' ? event.type : 'unknown'
    const source = typeof (event as { source?: unknown }).source === 'string' ? (event as { source: string }).source : ''
    const id = (event as { id?: unknown }).id
    if (isChatMessage(type)) {
      const streamed = (typeof id === 'string' ? this.#streaming.get(id) : undefined) ?? this.#awaitingFinal.get(source) ?? this.#openWithoutId(source)
      if (streamed !== undefined) {
        if (streamed.fullMessageId !== null) this.#streaming.delete(streamed.fullMessageId)
        if (this.#awaitingFinal.get(source) === streamed) this.#awaitingFinal.delete(source)
        streamed.type = type
        streamed.text = textOf(event)
        streamed.streaming = false
        streamed.event = event
        streamed.seq = frame.seq
        return streamed
      }
      return this.#push({ kind: 'message', key: this.#key(), source, type, text: textOf(event), streaming: false, fullMessageId: null, event, seq: frame.seq })
    }
    const streamed = typeof id === 'string' ? this.#streaming.get(id) : undefined
    if (streamed !== undefined) {
      this.#streaming.delete(id as string)
      this.#awaitingFinal.set(streamed.source, streamed)
    }
    const seq = frame.seq
    switch (type) {
      case 'ToolCallRequestEvent': {
        const calls = ((event as ToolCallRequestEvent).content ?? []).map((call) => ({ id: call.id, name: call.name, arguments: call.arguments }))
        for (const call of calls) this.#calls.set(call.id, call)
        return this.#push({ kind: 'tool_calls', key: this.#key(), source, calls, event, seq })
      }
      case 'ToolCallExecutionEvent': {
        const results = (event as ToolCallExecutionEvent).content ?? []
        for (const result of results) {
          const call = this.#calls.get(result.call_id)
          if (call === undefined) continue
          this.#calls.delete(result.call_id)
          call.result = result.content
          call.isError = result.is_error === true
        }
        return this.#push({ kind: 'tool_results', key: this.#key(), source, results, event, seq })
      }
      case 'ThoughtEvent':
        return this.#push({ kind: 'thought', key: this.#key(), source, text: textOf(event), event, seq })
      case 'SelectSpeakerEvent': {
        const content = (event as { content?: unknown }).content
        const speakers = Array.isArray(content) ? content.filter((s): s is string => typeof s === 'string') : []
        return this.#push({ kind: 'speaker', key: this.#key(), source, speakers, event, seq })
      }
      case 'UserInputRequestedEvent':
        return this.#push({ kind: 'input_requested', key: this.#key(), source, requestId: String((event as { request_id?: unknown }).request_id ?? ''), event, seq })
      default:
        return this.#push({ kind: 'event', key: this.#key(), source, type, event, seq })
    }
  }

  /** Marks frames the server no longer had. */
  gap (from: number, to: number): TranscriptEntry {
    return this.#push({ kind: 'gap', key: this.#key(), from, to })
  }

  /** AutoGen's objects in seq order: a finished run's equal its TaskResult.messages. */
  events (): AutoGenEvent[] {
    const found: Array<{ seq: number, event: AutoGenEvent }> = []
    for (const entry of this.entries) {
      if (entry.kind !== 'gap' && entry.event !== undefined) found.push({ seq: entry.seq ?? 0, event: entry.event })
    }
    return found.sort((a, b) => a.seq - b.seq).map((e) => e.event)
  }

  /** The source's latest message when it is still streaming without an id. */
  #openWithoutId (source: string): MessageEntry | undefined {
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const entry = this.entries[i] as TranscriptEntry
      if (entry.kind === 'message' && entry.source === source) {
        return entry.streaming && entry.fullMessageId === null ? entry : undefined
      }
    }
    return undefined
  }

  #push<T extends TranscriptEntry> (entry: T): T {
    this.entries.push(entry)
    return entry
  }

  #key (): string {
    return `m${this.#next++}`
  }
}
