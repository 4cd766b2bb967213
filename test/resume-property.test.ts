import t from 'tap'
import fc from 'fast-check'
import { isDeepStrictEqual } from 'node:util'
import { seqProblems, waitFor, type Client } from './fixtures/server.js'
import {
  Gate, connectTracked, expectedTranscript, lastSeqOf, makeScript, mergedTokens, runnerProbe, scriptRunner, seqOfItem, startUnixServer,
  transcriptOf, type RunnerProbe, type Script
} from './fixtures/resume.js'
import type { RunContext, RunRequest, ServerFrame } from '../lib/index.js'

/*
 * A run is read by a chain of connections: the first starts it, each is cut
 * (ws.terminate(): what was in flight is lost) and the next attaches with
 * the last seq the previous one received and the resume token. Whatever
 * the run's size, where the cuts fall and whether a reader stops reading
 * for a while (so that its socket congests and what waits for it goes out
 * coalesced), what the connections received, simply concatenated, covers
 * seqs 0..last exactly once and holds the runner's token text per message,
 * its events and its result.
 *
 * The runner waits at a gate before the item where cut i is due, until cut
 * i happened, so every cut falls mid-run; the reader is cut once it has
 * received a chosen share of what comes before that item (the server may
 * have sent it more). On a Unix socket (fixtures/resume.ts), so a paused
 * reader congests its socket with ~200 KB unread.
 *
 * FC_SEED=<seed> replays a run of cases; the seed is printed either way.
 */

const NUM_RUNS = 30
const MAX_BUFFERED = 1024

interface Cut { at: number, seen: number, pause: boolean }
interface Case { messages: number[], size: number, events: boolean, cuts: Cut[], finalPause: boolean }

const permille = fc.integer({ min: 0, max: 1000 })
const caseArb: fc.Arbitrary<Case> = fc.record({
  messages: fc.array(fc.integer({ min: 1, max: 400 }), { minLength: 1, maxLength: 4 }),
  size: fc.integer({ min: 4, max: 1000 }),
  events: fc.boolean(),
  cuts: fc.array(fc.record({ at: permille, seen: permille, pause: fc.boolean() }), { maxLength: 3 }),
  finalPause: fc.boolean()
})

interface Entry { script: Script, probe: RunnerProbe, gates: Map<number, Gate> }

t.test('cut and attach again, any number of times, paused or not: the connections together received the run exactly once', async (t) => {
  const runs = new Map<string, Entry>()
  const { app, url } = await startUnixServer({
    highWaterMark: 8,
    maxRunLag: { events: 64 },
    maxBufferedBytes: MAX_BUFFERED,
    stallTimeout: 0,
    // Everything a connection may have lost in flight stays kept.
    retainEvents: 1 << 20,
    retainBytes: 1 << 30,
    runner: (req: RunRequest, ctx: RunContext) => {
      const entry = runs.get(req.runId) as Entry
      return scriptRunner(entry.probe, entry.script, (i) => entry.gates.get(i))(req, ctx)
    }
  })
  t.after(() => app.close())

  const figures = { cases: 0, cuts: 0, pauses: 0, congested: 0, frames: 0, merged: 0 }
  let n = 0

  const property = fc.asyncProperty(caseArb, async (c) => {
    const runId = `p${n++}`
    const script = makeScript(c.messages, c.size, c.events)
    const items = script.items.length
    // Cut i is due before item hold_i (distinct, increasing, never the first item nor past the last).
    const byHold = new Map<number, Cut>()
    for (const cut of c.cuts) {
      const hold = Math.min(items - 1, Math.max(1, Math.floor(cut.at / 1000 * items)))
      if (hold >= 1 && !byHold.has(hold)) byHold.set(hold, cut)
    }
    const cycles = [...byHold.entries()].sort((a, b) => a[0] - b[0])
    const probe = runnerProbe()
    const gates = new Map(cycles.map(([hold]) => [hold, new Gate()]))
    runs.set(runId, { script, probe, gates })
    figures.cases++

    const received: ServerFrame[][] = []
    const clients: Client[] = []
    let after = -1
    let token: string | undefined
    try {
      for (let i = 0; i <= cycles.length; i++) {
        const final = i === cycles.length
        const sentAfter = after
        const [hold, cut] = final ? [items, undefined] : cycles[i] as [number, Cut]
        const pause = final ? c.finalPause : (cut as Cut).pause
        const { client, server } = await connectTracked(app, url)
        clients.push(client)
        if (pause) client.ws.pause()
        if (i === 0) client.send({ type: 'start', runId, task: 'x' })
        else client.send({ type: 'attach', runId, after, resumeToken: token })
        if (pause) {
          // Until its socket is congested, or there is nothing more to send it before the cut (or the end).
          await waitFor(() => server.bufferedAmount >= MAX_BUFFERED || (final ? app.autogenStream.runs === 0 : probe.holding === hold))
          figures.pauses++
          if (server.bufferedAmount >= MAX_BUFFERED) figures.congested++
          client.ws.resume()
        }
        if (final) {
          received.push(await client.untilEnded(runId))
        } else {
          // The share of the frames before item `hold` (seqs after+1 .. seqOfItem(hold)-1) it reads before the cut.
          const available = seqOfItem(hold) - 1 - after
          const target = Math.max(i === 0 ? 0 : -1, after + Math.ceil((cut as Cut).seen / 1000 * available))
          await client.until(() => lastSeqOf(client.run(runId)) >= target)
          client.ws.terminate()
          await client.closed
          await waitFor(() => app.autogenStream.connections === 0)
          received.push(client.run(runId))
          if (i === 0) token = client.tokens.get(runId)
          after = Math.max(after, lastSeqOf(client.run(runId)))
          figures.cuts++
          ;(gates.get(hold) as Gate).open()
        }
        if (i > 0) {
          // Answered with `attached` from the position asked (a connection cut at once may be gone before its answer).
          const attached = client.frames.find((f) => f.type === 'attached')
          if (attached === undefined ? final : attached.runId !== runId || attached.after !== sentAfter) {
            throw new Error(`connection ${i} attached after ${sentAfter}: ${JSON.stringify(attached)}`)
          }
        }
      }
      const all = received.flat()
      figures.frames += all.length
      figures.merged += mergedTokens(all)
      const problems = seqProblems(all)
      if (problems.length > 0) throw new Error(`seq problems: ${problems.slice(0, 5).join('; ')}`)
      const got = transcriptOf(all)
      const want = expectedTranscript(runId, script)
      if (!isDeepStrictEqual(got.text, want.text)) throw new Error(`token text per message differs from the runner's: ${JSON.stringify(Object.keys(got.text))}`)
      if (got.chunks !== want.chunks) throw new Error(`${got.chunks} chunks received, ${want.chunks} produced`)
      if (!isDeepStrictEqual(got.frames, want.frames)) throw new Error(`other frames differ: ${JSON.stringify(got.frames.map((f) => f.type))}`)
      if (probe.pulled !== items) throw new Error(`the runner was pulled ${probe.pulled} times for ${items} items`)
    } finally {
      for (const gate of gates.values()) gate.open()
      for (const client of clients) client.ws.terminate()
      await waitFor(() => app.autogenStream.connections === 0)
      runs.delete(runId)
    }
  })

  const seed = process.env.FC_SEED === undefined ? Date.now() ^ (Math.random() * 0x100000000) : Number(process.env.FC_SEED)
  t.comment(`seed ${seed} (replay: FC_SEED=${seed})`)
  const details = await fc.check(property, { numRuns: NUM_RUNS, seed, endOnFailure: true })
  t.comment(`${figures.cases} case(s), ${figures.cuts} cut(s), ${figures.pauses} paused reader(s) (${figures.congested} congested), ${figures.frames} frames received, ${figures.merged} of them merged token frames`)
  if (details.failed) {
    const error = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance)
    t.fail(`${fc.defaultReportMessage(details) ?? `failed, seed ${details.seed}`}\nGot error: ${error}`)
  } else {
    t.pass(`${details.numRuns} cases, seed ${details.seed}`)
  }
})
