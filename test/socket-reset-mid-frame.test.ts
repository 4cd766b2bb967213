import t from 'tap'
import type { Socket } from 'node:net'
import { startServer, Client, logCollector, waitFor, seqProblems } from './fixtures/server.js'
import { fastRunner, probe, chunkText, type Probe } from './fixtures/runners.js'
import type { AutoGenEvent, RunContext, RunRequest, TokenFrame } from '../lib/index.js'

/** `forever` streams until cancelled; anything else streams 2,000 chunks and a result. */
function runners (probes: Map<string, Probe>) {
  return async function * (request: RunRequest, context: RunContext): AsyncGenerator<AutoGenEvent> {
    const p = probe()
    probes.set(request.runId, p)
    yield * fastRunner(p, request.task === 'forever' ? Infinity : 2000)(request, context)
  }
}

/**
 * Writes the first 20 bytes of a masked text frame that announces 100 (a
 * start frame, cut short), then resets the TCP connection (RST, no close
 * handshake, no FIN).
 */
function resetMidFrame (c: Client): void {
  const raw = (c.ws as unknown as { _socket: Socket })._socket
  const payload = Buffer.from(JSON.stringify({ type: 'start', runId: 'never', task: 'x'.repeat(100) }).slice(0, 100))
  const mask = Buffer.from([9, 8, 7, 6])
  const masked = payload.map((b, i) => b ^ (mask[i % 4] as number))
  raw.write(Buffer.concat([Buffer.from([0x81, 0x80 | 100]), mask, masked.subarray(0, 20)]))
  raw.resetAndDestroy()
}

for (const onDisconnect of ['cancel', 'continue'] as const) {
  t.test(`a socket reset in the middle of a frame, onDisconnect '${onDisconnect}': its run ${onDisconnect === 'cancel' ? 'is cancelled (disconnect)' : 'goes on detached'}, nothing escapes, another client is untouched`, async (t) => {
    const uncaught: unknown[] = []
    const onUncaught = (err: unknown): void => { uncaught.push(err) }
    process.on('uncaughtException', onUncaught)
    process.on('unhandledRejection', onUncaught)
    t.after(() => { process.off('uncaughtException', onUncaught); process.off('unhandledRejection', onUncaught) })
    const probes = new Map<string, Probe>()
    const logs = logCollector()
    const { app, url } = await startServer({ runner: runners(probes), onDisconnect }, undefined, logs.stream)
    t.after(() => app.close())
    const [victim, other] = [await Client.connect(url), await Client.connect(url)]
    t.after(() => other.close())

    victim.send({ type: 'start', runId: 'doomed', task: 'forever' })
    await victim.until(() => victim.run('doomed').filter((f) => f.type === 'token').length > 3)
    other.send({ type: 'start', runId: 'fine', task: 'finite' })
    resetMidFrame(victim)

    const closed = await victim.closed
    t.equal(closed.code, 1006, 'the client saw its connection cut')
    await waitFor(() => app.autogenStream.connections === 1)
    const doomed = probes.get('doomed') as Probe
    if (onDisconnect === 'cancel') {
      await waitFor(() => doomed.returned)
      t.equal(doomed.aborted, true, 'the runner\'s signal fired')
      t.equal((doomed.signalReason as Error).message, 'The run was cancelled (disconnect)')
    } else {
      await waitFor(() => app.autogenStream.runsDetached === 1)
      t.equal(doomed.aborted, false, 'the run goes on, detached, for a client to attach again')
    }
    t.notOk(probes.has('never'), 'the half frame started nothing')

    const frames = await other.untilEnded('fine')
    t.same(seqProblems(frames), [])
    const tokens = frames.filter((f): f is TokenFrame & { runId: string, seq: number } => f.type === 'token')
    t.equal(tokens.map((f) => f.text).join(''), Array.from({ length: 2000 }, (_, i) => chunkText(i, 16)).join(''), 'every token of the other client\'s run, in order')
    t.equal(frames.at(-1)?.type, 'result')
    t.equal(other.ws.readyState, other.ws.OPEN)
    t.same(uncaught, [], 'no uncaught error or unhandled rejection')
    t.same(logs.lines.filter((l) => (l.level as number) >= 50), [], 'nothing logged at error')
  })
}
