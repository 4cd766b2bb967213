import t from 'tap'
import { agUiServer, bearerIdentity, collapsed, idsAscend, protocolErrors, runInput, SseClient, textOf, type SseEvent } from './fixtures/ag-ui.js'
import { examplesRunner } from './fixtures/python.js'
import { waitFor } from './fixtures/server.js'
import { untilHeld } from './fixtures/bridge-resume.js'
import { chunk, result } from './fixtures/events.js'
import type { AutoGenEvent } from '../lib/index.js'

/*
 * A stream cut mid-run, resumed with the Last-Event-ID of the last event
 * the client got: the events it missed, exactly, none twice. Chunks are
 * not merged here (coalesceTokens: false), so that every reader of the run
 * makes the very same events and a whole replay is the yardstick.
 */

const alice = { authorization: 'Bearer alice' }
const WORDS = 3000

/** Reads a paused POST until `keep` holds of what it got, then cuts it there: what came after is lost, as in a cut. */
async function cutWhen (client: SseClient, keep: (events: SseEvent[]) => number): Promise<SseEvent[]> {
  client.resume()
  let kept = 0
  await client.until((c) => (kept = keep(c.parser.events)) > 0)
  client.destroy()
  return client.parser.events.slice(0, kept)
}

async function replay (url: string, headers: Record<string, string>): Promise<SseEvent[]> {
  const all = new SseClient(url, { headers })
  await all.done
  return all.parser.events
}

t.test('a resume by Last-Event-ID gets exactly the missing events, at a plain id and inside one frame\'s events', async (t) => {
  const { app, url } = await agUiServer(t, {
    runner: examplesRunner(),
    authenticate: bearerIdentity,
    coalesceTokens: false,
    retainEvents: 100_000,
    retainBytes: 64 * 1024 * 1024,
    agUi: { onDisconnect: 'continue' }
  })
  for (const [name, keep] of [
    // After the 500th event: an id `S`.
    ['a plain id', (events: SseEvent[]) => events.length >= 500 ? 500 : 0],
    // After the message's TEXT_MESSAGE_START: an id `X/0`, the first of its frame's two events.
    ['inside a frame', (events: SseEvent[]) => events.findIndex((e) => e.id?.includes('/') === true) + 1]
  ] as const) {
    const runId = `cut-${name.replace(/ /g, '-')}`
    const post = new SseClient(url, { headers: alice, body: runInput({ runId, forwardedProps: { example: 'long_stream', words: WORDS } }), paused: true })
    await post.response()
    const got = await cutWhen(post, keep)
    const last = got.at(-1)?.id as string
    t.equal(last.includes('/'), name === 'inside a frame', `cut after id ${last}`)
    await waitFor(() => app.autogenStream.runsAttached === 0)

    const resumed = new SseClient(`${url}/runs/${runId}`, { headers: { ...alice, 'last-event-id': last } })
    await resumed.done
    t.equal(resumed.status, 200)
    const whole = [...got, ...resumed.parser.events]
    t.same(await protocolErrors(whole.map((e) => e.event)), [], `${name}: what it got and the resume make one valid run`)
    t.ok(idsAscend(whole.map((e) => e.id)), `${name}: no id twice, none out of order`)
    t.same(whole, await replay(`${url}/runs/${runId}`, alice), `${name}: exactly the whole run, as a replay of its log gives it`)
    const text = whole.filter((e) => e.event.type === 'TEXT_MESSAGE_CONTENT').map((e) => e.event.delta as string).join('')
    t.equal(text, Array.from({ length: WORDS }, (_, i) => `w${i}`).join(' '))
  }
})

t.test('a resume from a point no reader has mapped yet (?after=) maps up to it silently, then sends exactly what follows', async (t) => {
  const runner = examplesRunner()
  const { app, url } = await agUiServer(t, { runner, authenticate: bearerIdentity, coalesceTokens: false, retainEvents: 100_000, retainBytes: 64 * 1024 * 1024, agUi: { onDisconnect: 'continue' } })
  const post = new SseClient(url, { headers: alice, body: runInput({ runId: 'ahead', forwardedProps: { example: 'long_stream', words: WORDS } }), paused: true })
  await post.response()
  await cutWhen(post, (events) => events.length >= 2 ? 2 : 0)
  await waitFor(() => app.autogenStream.runsAttached === 0)
  // Chunks unmerged: one frame written per log entry, so the POST's stream mapped up to seq frames - 1.
  const mapped = app.autogenStream.counters.frames - 1
  // Detached, the run goes on to maxRunLag (64 entries) past that, and is held there.
  await untilHeld(runner, 'ahead', () => app.autogenStream.logBytes)
  const ahead = new SseClient(`${url}/runs/ahead?after=${mapped + 40}`, { headers: alice })
  await ahead.done
  const whole = await replay(`${url}/runs/ahead`, alice)
  const from = whole.findIndex((e) => e.id === String(mapped + 40)) + 1
  t.ok(from > 0, `resumed after ${mapped + 40}, 40 entries past what was mapped`)
  t.same(ahead.parser.events, whole.slice(from))
})

t.test('the resume token of the POST lets another (anonymous) request resume; without it, or too far back, the answer says why', async (t) => {
  const { url } = await agUiServer(t, { runner: examplesRunner(), agUi: { onDisconnect: 'continue' }, retainEvents: 16, retainBytes: 4096 })
  const post = new SseClient(url, { body: runInput({ runId: 'anon', forwardedProps: { example: 'long_stream', words: 400 } }) })
  await post.done
  const token = post.headers['autogen-stream-resume-token'] as string
  t.match(token, /^[A-Za-z0-9_-]{32}$/, 'the POST\'s answer carries its run\'s resume token')
  const lastId = post.parser.events.at(-1)?.id as string

  const without = new SseClient(`${url}/runs/anon`, { headers: { 'last-event-id': '3' } })
  await without.done
  t.same([without.status, without.error], [404, { code: 'AGS_UNKNOWN_RUN', message: 'No run "anon" for this connection' }], 'each anonymous request is an identity of its own')

  const gap = new SseClient(`${url}/runs/anon`, { headers: { 'last-event-id': '3', 'autogen-stream-resume-token': token } })
  await gap.done
  t.equal(gap.status, 410)
  t.match(gap.error, { code: 'AGS_RESUME_GAP', message: /^Run "anon" no longer keeps the frames after seq 3: the oldest kept is \d+$/ })

  const end = new SseClient(`${url}/runs/anon`, { headers: { 'last-event-id': lastId, 'autogen-stream-resume-token': token } })
  await end.done
  t.same([end.status, end.parser.events, end.parser.rest], [200, [], ''], 'resumed at its end: an empty stream')

  const beyond = new SseClient(`${url}/runs/anon?after=99999`, { headers: { 'autogen-stream-resume-token': token } })
  await beyond.done
  t.same([beyond.status, beyond.error.code], [400, 'AGS_BAD_INPUT'])
  const twice = new SseClient(`${url}/runs/anon?after=1&after=2`, { headers: { 'autogen-stream-resume-token': token } })
  await twice.done
  t.same([twice.status, twice.error.message], [400, 'Not a request this server can run: Last-Event-ID (or after) "1,2" is not an event id of this server (a seq, or seq/index)'])
  const head = await fetch(`${url}/runs/anon`, { method: 'HEAD', headers: { 'autogen-stream-resume-token': token } })
  t.equal(head.status, 404, 'no HEAD: it would read the run and send nothing')
  const bad = new SseClient(`${url}/runs/anon`, { headers: { 'last-event-id': 'x1', 'autogen-stream-resume-token': token } })
  await bad.done
  t.same([bad.status, bad.error], [400, { code: 'AGS_BAD_INPUT', message: 'Not a request this server can run: Last-Event-ID (or after) "x1" is not an event id of this server (a seq, or seq/index)' }])
})

t.test('a resume at the end of a run that ended while nobody read it: mapped silently to its end, an empty SSE answer', async (t) => {
  let open: () => void = () => {}
  const gate = new Promise<void>((resolve) => { open = resolve })
  const { app, url } = await agUiServer(t, {
    authenticate: bearerIdentity,
    agUi: { onDisconnect: 'continue' },
    async * runner (): AsyncGenerator<AutoGenEvent> {
      yield chunk('before ', 'm1')
      await gate
      for (let i = 0; i < 10; i++) yield chunk(`w${i} `, 'm1')
      yield result()
    }
  })
  const post = new SseClient(url, { headers: alice, body: runInput({ runId: 'tail' }) })
  await post.until((c) => c.events.length === 3)
  post.destroy()
  await waitFor(() => app.autogenStream.runsDetached === 1)
  open()
  await waitFor(() => app.autogenStream.runs === 0)
  // started, 11 chunks, the result: seqs 0 to 12; the POST's stream mapped up to 1.
  const atEnd = new SseClient(`${url}/runs/tail?after=12`, { headers: alice })
  await atEnd.done
  t.same([atEnd.status, atEnd.headers['content-type'], atEnd.text], [200, 'text/event-stream; charset=utf-8', ''])
  const rest = new SseClient(`${url}/runs/tail`, { headers: { ...alice, 'last-event-id': post.parser.events.at(-1)?.id as string } })
  await rest.done
  t.same(collapsed(rest.events), ['TEXT_MESSAGE_CONTENT', 'TEXT_MESSAGE_END', 'RUN_FINISHED'])
  t.equal(textOf([...post.events, ...rest.events], 'm1'), 'before w0 w1 w2 w3 w4 w5 w6 w7 w8 w9 ')
  t.same(await protocolErrors([...post.events, ...rest.events]), [])
})
