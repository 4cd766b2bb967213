import t, { type Test } from 'tap'
import type { AutoGenEvent, RunContext, RunRequest } from '../lib/index.js'
import { DEFAULTS } from '../lib/options.js'
import { chunk, result } from './fixtures/events.js'
import { startServer, Client, seqProblems, waitFor } from './fixtures/server.js'

/*
 * The default log bounds are small (DEFAULTS in lib/options.ts: a tail of
 * 256 entries read, 64 unread): they must still make the cuts a client
 * meets resume exactly. A run streams at a fast model's pace (one chunk
 * every 2 ms); its client is cut (no close handshake: what was in flight
 * is lost) after reading a part of it, or after it stopped reading for
 * 100 ms at that pace first (a stalled tab, a network hiccup); a new
 * connection attaches with the last seq the client saw and the token.
 * What the two received is the whole run, each seq once. And a run nobody
 * reads holds no more than the bounds: its log's entries, whatever the
 * runner could give.
 */

const CHUNKS = 600

function pacedRunner (chunks: number, everyMs: number) {
  return async function * (_req: RunRequest, ctx: RunContext): AsyncGenerator<AutoGenEvent> {
    for (let i = 0; i < chunks && !ctx.signal.aborted; i++) {
      if (i % 10 === 0) await new Promise((resolve) => setTimeout(resolve, everyMs * 10))
      yield chunk(`${i} `, `m${Math.floor(i / 100)}`)
    }
    yield result([], 'done')
  }
}

async function cutAndResume (t: Test, stallMs: number): Promise<void> {
  const { app, url } = await startServer({ runner: pacedRunner(CHUNKS, 2) })
  t.after(() => app.close())
  const a = await Client.connect(url)
  a.send({ type: 'start', runId: 'r', task: 'x' })
  await a.until(() => a.run('r').length >= 20)
  if (stallMs > 0) {
    a.ws.pause()
    await new Promise((resolve) => setTimeout(resolve, stallMs))
  }
  const fromA = [...a.run('r')]
  a.ws.terminate()
  await waitFor(() => app.autogenStream.runsDetached === 1 || app.autogenStream.runs === 0)
  const lastA = fromA.at(-1)?.seq ?? -1

  const b = await Client.connect(url)
  t.after(() => b.close())
  b.send({ type: 'attach', runId: 'r', after: lastA, resumeToken: a.tokens.get('r') })
  const fromB = await b.untilEnded('r')
  t.same(b.frames.filter((f) => f.type === 'error' && !('seq' in f)), [], 'no AGS_RESUME_GAP: the tail still held what was in flight')
  t.same(seqProblems(fromB, 'v2', lastA), [], "B's frames continue right after A's last seq")
  const joined = [...fromA, ...fromB]
  t.same(seqProblems(joined), [], 'A + B: every seq from 0 once, none twice, no gap')
  const text = joined.flatMap((f) => f.type === 'token' ? [f.text] : []).join('')
  t.equal(text, Array.from({ length: CHUNKS }, (_, i) => `${i} `).join(''), 'every chunk, in order')
  t.equal(joined.at(-1)?.type, 'result')
}

t.test('a client cut while it kept up resumes exactly with the default bounds', async (t) => {
  await cutAndResume(t, 0)
})

t.test('a client cut after it stopped reading for 100 ms (50 chunks at this pace) resumes exactly with the default bounds', async (t) => {
  await cutAndResume(t, 100)
})

t.test('a run nobody reads holds at most the default bounds in its log', async (t) => {
  // A runner that never waits and never ends: the log is filled as far as the bounds allow at once.
  const runner = async function * (_req: RunRequest, ctx: RunContext): AsyncGenerator<AutoGenEvent> {
    for (let i = 0; !ctx.signal.aborted; i++) yield chunk(`${i} `, 'm')
  }
  const { app, url } = await startServer({ runner })
  t.after(() => app.close())
  const a = await Client.connect(url)
  t.after(() => a.close())
  a.send({ type: 'start', runId: 'r', task: 'x' })
  await a.until(() => a.run('r').length >= 1)
  a.send({ type: 'detach', runId: 'r' })
  await a.until((frames) => frames.some((f) => f.type === 'detached'))
  await waitFor(() => app.autogenStream.runsDetached === 1)
  // Held: the log no longer grows.
  let bytes = -1
  await waitFor(() => {
    const now = app.autogenStream.logBytes
    const still = now === bytes
    bytes = now
    return still
  }, 50)
  const b = await Client.connect(url)
  t.after(() => b.close())
  b.send({ type: 'attach', runId: 'r', after: -1, resumeToken: a.tokens.get('r') })
  await b.until((frames) => frames.some((f) => f.type === 'attached'))
  const attached = b.frames.find((f) => f.type === 'attached') as { oldestSeq: number, lastSeq: number }
  const kept = attached.lastSeq - attached.oldestSeq + 1
  t.ok(kept <= DEFAULTS.retainEvents + DEFAULTS.maxRunLag.events + 1,
    `the detached run's log keeps ${kept} entries: at most retainEvents + maxRunLag.events + 1 (${DEFAULTS.retainEvents + DEFAULTS.maxRunLag.events + 1})`)
  b.send({ type: 'cancel', runId: 'r' })
  await b.untilEnded('r')
})
