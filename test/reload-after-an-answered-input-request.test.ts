import t, { type Test } from 'tap'
import { startServer, Client } from './fixtures/server.js'
import { MemoryStorage, nodeClient, untilFrame } from './fixtures/client.js'
import { Gate } from './fixtures/resume.js'
import type { RunContext, RunRequest, ServerFrame } from '../lib/index.js'

/*
 * A page answers an input request, then reloads: its new page replays the
 * run from seq 0 and meets the old `input_request` again. The server marks
 * it `answered` (the run no longer waits for it), so the client shows it in
 * the transcript but asks nobody; a request still pending is asked once.
 */

const at = '2026-01-01T00:00:00Z'

async function serve (t: Test) {
  const gate = new Gate()
  const { app, url } = await startServer({
    runner: async function * (_req: RunRequest, ctx: RunContext) {
      const name = await ctx.requestInput('Your name?')
      yield { type: 'TextMessage', id: 'a', source: 'user', models_usage: null, metadata: {}, created_at: at, content: name }
      const city = await ctx.requestInput('Your city?')
      yield { type: 'TextMessage', id: 'b', source: 'user', models_usage: null, metadata: {}, created_at: at, content: city }
      await gate.wait(ctx.signal)
      yield { type: 'TaskResult', messages: [], stop_reason: 'done' }
    }
  })
  t.after(() => { gate.open(); return app.close() })
  return { app, url, gate }
}

t.test('the protocol: a replay from -1 marks the answered request, not the pending one', async (t) => {
  const { url, gate } = await serve(t)
  const a = await Client.connect(url)
  t.after(() => a.close())
  a.send({ type: 'start', runId: 'r', task: 'x' })
  await a.until(() => a.frames.some((f) => f.type === 'input_request'))
  const first = a.frames.find((f) => f.type === 'input_request') as ServerFrame & { requestId: string }
  a.send({ type: 'input', runId: 'r', requestId: first.requestId, content: 'Ada' })
  await a.until(() => a.frames.filter((f) => f.type === 'input_request').length === 2)
  const b = await Client.connect(url)
  t.after(() => b.close())
  b.send({ type: 'attach', runId: 'r', after: -1, resumeToken: a.tokens.get('r') })
  await b.until(() => b.frames.filter((f) => f.type === 'input_request').length === 2)
  const requests = b.frames.filter((f) => f.type === 'input_request').map((f) => f.type === 'input_request' && [f.prompt, f.answered ?? false, f.resent ?? false])
  t.same(requests, [['Your name?', true, false], ['Your city?', false, false]])
  t.notOk(a.frames.some((f) => f.type === 'input_request' && f.answered === true), 'the live reader was never sent one marked')
  gate.open()
})

t.test('the client: after a reload only the pending request is asked', async (t) => {
  const { app, url, gate } = await serve(t)
  const storage = new MemoryStorage()
  const first = nodeClient(url, { storage, reconnect: false })
  const run = first.start('x')
  const asked = await new Promise<{ requestId: string }>((resolve) => run.once('input_request', resolve))
  run.respond(asked.requestId, 'Ada')
  await untilFrame(run, () => run.pendingInputs.size === 1 && [...run.pendingInputs.values()][0]?.prompt === 'Your city?')
  first.close()

  const second = nodeClient(url, { storage })
  t.after(() => second.close())
  const [again] = second.restore()
  if (again === undefined) throw new Error('nothing restored')
  const prompts: string[] = []
  again.on('input_request', (f) => prompts.push(f.prompt))
  await untilFrame(again, () => again.messages.filter((m) => m.kind === 'message').length === 1 && again.pendingInputs.size === 1)
  t.same(prompts, ['Your city?'], 'the answered request is not asked again')
  t.same([...again.pendingInputs.values()].map((f) => f.prompt), ['Your city?'])
  const [pending] = again.pendingInputs.keys()
  again.respond(pending as string, 'Paris')
  gate.open()
  await again.result
  t.same(again.messages.map((m) => m.kind === 'message' && m.text), ['Ada', 'Paris'])
  t.equal(app.autogenStream.runs, 0)
})
