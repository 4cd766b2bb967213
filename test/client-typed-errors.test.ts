import t from 'tap'
import { docsColumn } from './fixtures/docs.js'
import { startServer } from './fixtures/server.js'
import { Gate, makeScript, runnerProbe, scriptRunner } from './fixtures/resume.js'
import { nodeClient, terminateAll, untilFrame } from './fixtures/client.js'
import { AutogenStreamError, CLIENT_ERROR_CODES, CLIENT_OPTIONS, createClient, isAutogenStreamError } from '../lib/client/index.js'
import { ErrorTable, type RunContext, type RunRequest } from '../lib/index.js'

/*
 * Every way a run or a connection can fail reaches the app as one error
 * class with the server's code (or one of the client's own), on the run's
 * `result`, its 'error' event, and the client's state.
 */

const script = makeScript([20], 8)

t.test('the client\'s own codes are not the server\'s', async (t) => {
  for (const code of CLIENT_ERROR_CODES) t.notOk(code in ErrorTable, code)
})

t.test('a refused start: result rejects with the server\'s code; the connection goes on', async (t) => {
  const gate = new Gate()
  const { app, url } = await startServer({ maxRunsPerConnection: 1, runner: scriptRunner(runnerProbe(), script, (i) => i === 0 ? gate : undefined) })
  t.after(() => app.close())
  const client = nodeClient(url)
  t.after(() => client.close())
  const first = client.start('one')
  await untilFrame(first, () => first.state === 'running')
  const second = client.start('two', { runId: 'second' })
  const events: AutogenStreamError[] = []
  second.on('error', (err) => events.push(err))
  const err = await second.result.then(() => undefined, (e: unknown) => e)
  t.ok(isAutogenStreamError(err, 'AGS_TOO_MANY_RUNS'), 'typed')
  t.ok(err instanceof AutogenStreamError)
  t.match(err, { code: 'AGS_TOO_MANY_RUNS', runId: 'second', ref: { type: 'start', runId: 'second' }, message: /1 active runs/ })
  t.same(events, [err], 'the same error on the run\'s error event')
  t.equal(second.state, 'ended')
  gate.open()
  await first.result
  t.equal(client.state, 'open')
})

t.test('a run error frame, a cancel, and a refused input', async (t) => {
  const gate = new Gate()
  const { app, url } = await startServer({
    runner: async function * (req: RunRequest, ctx: RunContext) {
      if (req.task === 'fail') throw new Error('secret details stay on the server')
      if (req.task === 'ask') {
        await ctx.requestInput('Your name?')
        yield * scriptRunner(runnerProbe(), script)(req, ctx)
        return
      }
      yield * scriptRunner(runnerProbe(), script, (i) => i === 1 ? gate : undefined)(req, ctx)
    }
  })
  t.after(() => app.close())
  const client = nodeClient(url)
  t.after(() => client.close())

  const failing = client.start('fail')
  await t.rejects(failing.result, { name: 'AutogenStreamError', code: 'AGS_RUNNER_ERROR', runId: failing.runId, message: 'The runner failed' })
  t.equal(failing.outcome?.type, 'error')

  const cancelled = client.start('hold')
  const errors: unknown[] = []
  cancelled.on('error', (e) => errors.push(e))
  await untilFrame(cancelled, () => cancelled.lastSeq >= 1)
  cancelled.cancel()
  await t.rejects(cancelled.result, { code: 'AGS_RUN_CANCELLED', reason: 'client' })
  t.equal(cancelled.outcome?.type, 'cancelled')
  t.same(errors, [], 'a cancel is not an error event: it has its own')

  const asking = client.start('ask')
  const request = await new Promise<{ requestId: string }>((resolve) => asking.once('input_request', resolve))
  const rejected = new Promise<AutogenStreamError>((resolve) => asking.once('rejected', resolve))
  asking.respond('not-a-request', 'x')
  t.match(await rejected, { code: 'AGS_UNKNOWN_REQUEST', ref: { type: 'input', requestId: 'not-a-request' } })
  asking.respond(request.requestId, 'Ada')
  t.equal((await asking.result).stop_reason, script.result.stop_reason, 'the run went on')
})

t.test('an upgrade refused with 401: closed at once, no retry, the runs fail with AGS_UNAUTHENTICATED', async (t) => {
  const { app, url } = await startServer({ authenticate: () => null, runner: scriptRunner(runnerProbe(), script) })
  t.after(() => app.close())
  const client = nodeClient(url)
  const run = client.start('x')
  await t.rejects(run.result, { code: 'AGS_UNAUTHENTICATED' })
  t.same(client.states.map((s) => s.state), ['connecting', 'closed'])
  t.equal(client.states.at(-1)?.error?.code, 'AGS_UNAUTHENTICATED')
  t.throws(() => client.start('y'), { code: 'AGS_CLIENT_CLOSED' }, 'nothing starts on a closed client')
  await t.rejects(client.list(), { code: 'AGS_CLIENT_CLOSED' })
})

t.test('the server stays away: after `retries` attempts the run fails with AGS_CONNECTION_LOST', async (t) => {
  const gate = new Gate()
  let refuse = false
  const { app, url } = await startServer({ runner: scriptRunner(runnerProbe(), script, (i) => i === 2 ? gate : undefined) }, (app) => {
    app.addHook('onRequest', async (_req, reply) => { if (refuse) await reply.code(503).send({ code: 'AGS_TOO_MANY_CONNECTIONS', message: 'full' }) })
  })
  t.after(async () => { gate.open(); await app.close() })
  const client = nodeClient(url, { reconnect: { retries: 3, minDelay: 1, maxDelay: 4, jitter: 0 } })
  const run = client.start('x')
  await untilFrame(run, () => run.lastSeq >= 2)
  refuse = true
  terminateAll(app)
  await t.rejects(run.result, { code: 'AGS_CONNECTION_LOST' })
  t.same(client.states.filter((s) => s.state === 'reconnecting').map((s) => [s.attempt, s.delay]), [[1, 1], [2, 2], [3, 4]],
    'exponential: minDelay doubled up to maxDelay (no jitter here)')
  t.equal(client.state, 'closed')
  t.ok(run.resumable, 'the run may still be attached later: it did not end on the server')
})

t.test('a resume from before what the server keeps: a gap entry, then what is kept', async (t) => {
  const long = makeScript([200], 8, false)
  const { app, url } = await startServer({ retainEvents: 16, retainBytes: 1 << 20, runner: scriptRunner(runnerProbe(), long) })
  t.after(() => app.close())
  const first = nodeClient(url)
  t.after(() => first.close())
  const run = first.start('x', { runId: 'g' })
  await run.result
  const token = run.resumeToken as string
  const second = nodeClient(url)
  t.after(() => second.close())
  const later = second.attach('g', { after: 0, resumeToken: token })
  const gaps: Array<{ from: number, to: number }> = []
  later.on('gap', (g) => gaps.push(g))
  await later.result
  t.equal(gaps.length, 1)
  const gap = gaps[0] as { from: number, to: number }
  t.equal(gap.from, 1)
  t.ok(gap.to > 100, 'most of the run was trimmed')
  t.same(later.messages[0], { kind: 'gap', key: 'm0', from: 1, to: gap.to })
  t.equal(later.lastSeq, 201)
})

t.test('docs/client.md: the client codes and createClient options are the code\'s', async (t) => {
  t.same(docsColumn('client.md', 'client code').sort(), [...CLIENT_ERROR_CODES].sort())
  t.same(docsColumn('client.md', 'option').sort(), [...CLIENT_OPTIONS].sort())
})

t.test('unknown and malformed options are refused', async (t) => {
  t.throws(() => createClient({ url: 'ws://x/autogen', reconect: false } as never), { name: 'TypeError', message: /unknown option "reconect"/ })
  t.throws(() => createClient({ url: 'ws://x/autogen', reconnect: { retry: 3 } } as never), { message: /unknown reconnect option "retry"/ })
  t.throws(() => createClient({ url: 'ws://x/autogen', reconnect: { jitter: 2 } }), { message: /reconnect.jitter must be a number from 0 to 1/ })
  t.throws(() => createClient({ url: 'ws://x/autogen', reconnect: { minDelay: -1 } }), { message: /reconnect.minDelay must be a number/ })
})

t.test('no WebSocket implementation: a clear error at createClient', async (t) => {
  t.equal((globalThis as { WebSocket?: unknown }).WebSocket, undefined, 'Node 20 has no global WebSocket')
  t.throws(() => createClient({ url: 'ws://127.0.0.1:1/autogen' }), { code: 'AGS_NO_WEBSOCKET' })
  t.throws(() => createClient({ url: 'http://x' }), TypeError)
})
