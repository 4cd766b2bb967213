import t from 'tap'
import { startServer, Client, waitFor } from './fixtures/server.js'
import type { RunContext, RunRequest, ServerFrame } from '../lib/index.js'
import { result } from './fixtures/events.js'

t.test('an attaching client is sent again only the input requests the run still waits for: not the timed-out nor the answered ones', async (t) => {
  const { app, url } = await startServer({
    authenticate: () => ({ id: 'alice' }),
    runner: async function * (_req: RunRequest, ctx: RunContext) {
      const answers: string[] = []
      for (let i = 0; i < 5; i++) {
        // Five requests time out unanswered...
        await ctx.requestInput(`stale ${i}`, { requestId: `stale-${i}`, timeout: 20 }).catch(() => {})
      }
      // ...one is answered...
      answers.push(await ctx.requestInput('answered', { requestId: 'answered' }))
      // ...and one is pending when the client comes back.
      answers.push(await ctx.requestInput('pending', { requestId: 'pending' }))
      yield result([], answers.join(','))
    }
  })
  t.after(() => app.close())
  const a = await Client.connect(url)
  a.send({ type: 'start', runId: 'r', task: 'x' })
  await a.until((f) => f.some((x) => x.type === 'input_request' && x.requestId === 'answered'))
  a.send({ type: 'input', runId: 'r', requestId: 'answered', content: 'one' })
  await a.until((f) => f.some((x) => x.type === 'input_request' && x.requestId === 'pending'))
  const last = (a.run('r').at(-1) as { seq: number }).seq
  a.ws.terminate()
  await waitFor(() => app.autogenStream.runsDetached === 1)

  const b = await Client.connect(url)
  t.after(() => b.close())
  b.send({ type: 'attach', runId: 'r', after: last })
  await b.until((f) => f.length === 2)
  t.same(b.frames.map((f: ServerFrame) => f.type === 'input_request' ? [f.type, f.requestId, f.resent ?? false] : [f.type]),
    [['attached'], ['input_request', 'pending', true]], 'only the request still pending is sent again')
  b.send({ type: 'input', runId: 'r', requestId: 'pending', content: 'two' })
  const frames = await b.untilEnded('r')
  t.match(frames.at(-1), { type: 'result', result: { stop_reason: 'one,two' } })
})
