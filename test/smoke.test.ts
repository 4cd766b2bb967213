import t from 'tap'
import { startServer, Client } from './fixtures/server.js'
import { chunk, result, text } from './fixtures/events.js'

t.test('smoke', async (t) => {
  const { app, url } = await startServer({
    runner: async function * () {
      yield chunk('Hel', 'm1'); yield chunk('lo', 'm1'); yield text('Hello'); yield result([], 'done')
    }
  })
  t.after(() => app.close())
  const c = await Client.connect(url)
  c.send({ type: 'start', runId: 'r1', task: 'hi' })
  const frames = await c.untilEnded('r1')
  t.ok(frames.length > 0)
  console.error(JSON.stringify(frames))
  c.close()
})
