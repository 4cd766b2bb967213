import t from 'tap'
import { agUiServer, bearerIdentity, protocolErrors, runAgent, runInput, SseClient } from './fixtures/ag-ui.js'
import { historyRunner } from './fixtures/runners.js'
import { waitFor } from './fixtures/server.js'
import { RunError } from '../lib/index.js'

/*
 * The AG-UI route answers to the same authenticate(), limits and
 * ownership as the WebSocket route, over the same runs and threads.
 * A runner in this process (historyRunner: it keeps threads; `hold`
 * keeps a run going until it is cancelled) is enough here.
 */

const alice = { authorization: 'Bearer alice' }
const bob = { authorization: 'Bearer bob' }

async function post (url: string, headers: Record<string, string>, over: Record<string, unknown> = {}): Promise<SseClient> {
  const client = new SseClient(url, { headers, body: runInput(over) })
  await client.response()
  return client
}

t.test('authenticate(): no identity is 401, a 403 error is 403, before the body is read; identities own their runs and threads', async (t) => {
  const { app, url } = await agUiServer(t, {
    runner: historyRunner(),
    authenticate: (request) => {
      if (request.headers.authorization === 'Bearer mallory') throw Object.assign(new Error('banned'), { statusCode: 403 })
      return bearerIdentity(request)
    }
  })
  const nobody = new SseClient(url, { body: runInput() })
  await nobody.done
  t.same([nobody.status, nobody.error], [401, { code: 'AGS_UNAUTHENTICATED', message: 'Authentication required' }])
  const mallory = new SseClient(url, { headers: { authorization: 'Bearer mallory' }, body: runInput() })
  await mallory.done
  t.same([mallory.status, mallory.error], [403, { code: 'AGS_FORBIDDEN', message: 'Not allowed to connect' }])
  const get = new SseClient(`${url}/runs/run-1`, {})
  await get.done
  t.equal(get.status, 401, 'a GET too')

  // The AG-UI threadId is the identity's thread: its saved state brings the history back.
  const first = await runAgent(url, { headers: alice, threadId: 'support-42', messages: [{ id: 'u1', role: 'user', content: 'My order is late' }], params: { runId: 'r1' } })
  const second = await runAgent(url, { headers: alice, threadId: 'support-42', messages: [{ id: 'u1', role: 'user', content: 'My order is late' }, { id: 'u2', role: 'user', content: 'It was order 1234' }], params: { runId: 'r2' } })
  const theirs = await runAgent(url, { headers: bob, threadId: 'support-42', messages: [{ id: 'u1', role: 'user', content: 'Hi' }], params: { runId: 'r1' } })
  const said = (run: typeof first): unknown => run.result?.newMessages.map((m) => m.content)
  t.same(said(first), ['seen: My order is late'])
  t.same(said(second), ['seen: My order is late | It was order 1234'], 'the second run continued the thread: the history came from its saved state, not from the messages sent')
  t.same(said(theirs), ['seen: Hi'], "bob's support-42 is his own; his r1 is not alice's r1")
  t.same(await protocolErrors(second.raw.map((e) => e.event)), [])
  t.equal(app.autogenStream.threads, 2)

  // Runs: each identity reads its own, and nobody else's.
  const mine = new SseClient(`${url}/runs/r2?after=0`, { headers: alice })
  await mine.done
  t.same(mine.events.map((e) => e.type), ['TEXT_MESSAGE_START', 'TEXT_MESSAGE_CONTENT', 'TEXT_MESSAGE_END', 'RUN_FINISHED'])
  const notMine = new SseClient(`${url}/runs/r2`, { headers: bob })
  await notMine.done
  t.same([notMine.status, notMine.error.code], [404, 'AGS_UNKNOWN_RUN'], 'the same answer as for a run that does not exist')
  const withToken = new SseClient(`${url}/runs/r2?after=0`, { headers: { ...bob, 'autogen-stream-resume-token': second.headers?.get('autogen-stream-resume-token') as string } })
  await withToken.done
  t.same(withToken.events, mine.events, 'the resume token of the run lets another identity read it')
})

t.test('one run at a time per thread; without authenticate() runs keep no thread (each request is an identity of its own)', async (t) => {
  const anonymous = await agUiServer(t, { runner: historyRunner() })
  await runAgent(anonymous.url, { threadId: 't', messages: [{ id: 'u1', role: 'user', content: 'one' }] })
  const again = await runAgent(anonymous.url, { threadId: 't', messages: [{ id: 'u1', role: 'user', content: 'two' }] })
  t.same(again.result?.newMessages.map((m) => m.content), ['seen: two'])
  t.equal(anonymous.app.autogenStream.threads, 0, 'nothing kept that nobody could reach')
  const resume = new SseClient(anonymous.url, { body: runInput({ resume: [{ interruptId: 'req-1', status: 'resolved', payload: 'yes' }] }) })
  await resume.done
  t.same([resume.status, resume.error.code], [501, 'AGS_THREAD_UNSUPPORTED'], 'an interrupt answer continues a thread: not without an identity')

  const { url } = await agUiServer(t, { runner: historyRunner(), authenticate: bearerIdentity })
  const held = await post(url, alice, { threadId: 'busy', runId: 'h1', forwardedProps: { hold: true } })
  t.equal(held.status, 200)
  const second = new SseClient(url, { headers: alice, body: runInput({ threadId: 'busy', runId: 'h2' }) })
  await second.done
  t.same([second.status, second.error], [409, { code: 'AGS_THREAD_BUSY', message: 'Thread "busy" has an active run ("h1"); one run at a time per thread' }])
  held.destroy()
})

t.test('connection limits count streams as they count sockets; maxRunsPerIdentity and maxActiveRuns hold for AG-UI runs', async (t) => {
  const runs = await agUiServer(t, { runner: historyRunner(), authenticate: bearerIdentity, maxRunsPerIdentity: 1, maxActiveRuns: 1, maxQueuedRuns: 0 })
  const held = await post(runs.url, alice, { runId: 'a1', threadId: 'a', forwardedProps: { hold: true } })
  t.equal(held.status, 200)
  const busyIdentity = new SseClient(runs.url, { headers: alice, body: runInput({ runId: 'a2', threadId: 'b' }) })
  await busyIdentity.done
  t.same([busyIdentity.status, busyIdentity.error], [429, { code: 'AGS_TOO_MANY_RUNS_FOR_IDENTITY', message: 'This identity already has 1 active runs (maxRunsPerIdentity)' }])
  const busyServer = new SseClient(runs.url, { headers: bob, body: runInput({ runId: 'b1' }) })
  await busyServer.done
  t.same([busyServer.status, busyServer.error], [503, { code: 'AGS_BUSY', message: 'The server is busy: 1 runs active and 0 queued (maxActiveRuns, maxQueuedRuns); try again later' }])
  held.destroy()

  const { app, url } = await agUiServer(t, { runner: historyRunner(), maxConnectionsPerIp: 2 })
  const first = await post(url, {}, { forwardedProps: { hold: true } })
  const second = await post(url, {}, { forwardedProps: { hold: true } })
  t.same([first.status, second.status], [200, 200])
  // Two streams hold the address's two slots: a third is refused before its body is read.
  const third = new SseClient(url, { body: runInput() })
  await third.done
  t.same([third.status, third.error], [429, { code: 'AGS_TOO_MANY_CONNECTIONS_FROM_IP', message: 'This address has 2 connections (maxConnectionsPerIp)' }])
  second.destroy()
  await waitFor(() => app.autogenStream.runs === 1)
  const after = await runAgent(url, {})
  t.equal(after.error, undefined, 'a slot comes back when its stream ends')
  first.destroy()
})

t.test('maxConnections, the Origin check, and authorizeRun apply to the AG-UI route', async (t) => {
  const { url } = await agUiServer(t, {
    runner: historyRunner(),
    maxConnections: 1,
    authorizeRun: (_identity, { task }) => { if (task === 'forbidden') throw new RunError('NOT_FOR_YOU', 'Not this task') }
  })
  const foreign = new SseClient(url, { headers: { origin: 'https://evil.example' }, body: runInput() })
  await foreign.done
  t.same([foreign.status, foreign.error], [403, { code: 'AGS_FORBIDDEN_ORIGIN', message: 'Origin "https://evil.example" may not open this socket (allowedOrigins)' }])
  const sameOrigin = await runAgent(url, { headers: { origin: new URL(url).origin } })
  t.equal(sameOrigin.error, undefined)
  const refused = await runAgent(url, { messages: [{ id: 'u1', role: 'user', content: 'forbidden' }] })
  t.same(refused.raw.map((e) => e.event).at(-1), { type: 'RUN_ERROR', message: 'Not this task', code: 'NOT_FOR_YOU' })

  const held = await post(url, {}, { forwardedProps: { hold: true } })
  const full = new SseClient(url, { body: runInput() })
  await full.done
  t.same([full.status, full.error], [503, { code: 'AGS_TOO_MANY_CONNECTIONS', message: 'The server has 1 connections (maxConnections)' }])
  held.destroy()
})
