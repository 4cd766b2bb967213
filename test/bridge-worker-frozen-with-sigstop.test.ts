import t from 'tap'
import { startServer, Client, logCollector, waitFor, seqProblems } from './fixtures/server.js'
import { examplesRunner } from './fixtures/python.js'
import type { InputRequestFrame, RunErrorFrame, ServerFrame } from '../lib/index.js'

function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}

/** A run's frames without what differs from run to run (AutoGen's ids and times, merged tokens): what a reader sees. */
function transcript (frames: ServerFrame[]): unknown[] {
  const out: unknown[] = []
  for (const f of frames as Array<Record<string, any>>) {
    if (f.type === 'token') {
      // Tokens merge when a socket is congested: compare the text of each message, not its frames.
      const last = out.at(-1) as { token?: string, source?: string } | undefined
      if (last?.token !== undefined && last.source === f.source) last.token += f.text
      else out.push({ token: f.text, source: f.source })
    } else if (f.type === 'event') {
      out.push({ event: f.event.type, source: f.event.source, content: f.event.content })
    } else if (f.type === 'result') {
      out.push({ result: f.result.stop_reason, messages: f.result.messages.map((m: Record<string, unknown>) => [m.type, m.source, m.content]) })
    } else if (f.type === 'input_request') {
      out.push({ input_request: f.prompt })
    } else {
      out.push({ type: f.type, code: f.code })
    }
  }
  return out
}

/** A user proxy run answered with APPROVE: paused on its input request for as long as the test likes. */
async function approve (c: Client, runId: string): Promise<ServerFrame[]> {
  await c.until(() => c.run(runId).some((f) => f.type === 'input_request'))
  const ask = c.run(runId).find((f): f is InputRequestFrame & { runId: string, seq: number } => f.type === 'input_request') as InputRequestFrame
  c.send({ type: 'input', runId, requestId: ask.requestId, content: 'APPROVE' })
  return await c.untilEnded(runId)
}

t.test('a worker frozen with SIGSTOP mid-run: the heartbeat finds it, its run ends with AGS_WORKER_UNRESPONSIVE, it is killed and replaced; a run on the other worker is untouched', async (t) => {
  const heartbeatTimeout = 1000
  const runner = examplesRunner({ workers: 2, heartbeatInterval: 100, heartbeatTimeout })
  const logs = logCollector()
  const { app, url } = await startServer({ runner }, undefined, logs.stream)
  t.after(() => app.close())
  await runner.ready()
  const stopped: number[] = []
  t.after(() => {
    for (const pid of stopped) {
      try { process.kill(pid, 'SIGCONT'); process.kill(pid, 'SIGKILL') } catch {}
    }
  })
  const [victimClient, healthyClient] = [await Client.connect(url), await Client.connect(url)]
  t.after(() => { victimClient.close(); healthyClient.close() })

  // What the healthy run shows when nothing goes wrong, to compare with.
  healthyClient.send({ type: 'start', runId: 'reference', task: 'Plan my week', options: { example: 'user_proxy_team' } })
  const reference = transcript(await approve(healthyClient, 'reference'))
  await waitFor(() => runner.loads.every((l) => l === 0))

  victimClient.send({ type: 'start', runId: 'victim', task: 'x', options: { example: 'long_stream', words: 200_000 } })
  await victimClient.until(() => victimClient.run('victim').filter((f) => f.type === 'token').length > 10)
  const slot = runner.loads.indexOf(1)
  const victim = runner.pids[slot] as number
  // The least loaded worker takes the next run: the other one.
  healthyClient.send({ type: 'start', runId: 'healthy', task: 'Plan my week', options: { example: 'user_proxy_team' } })
  await healthyClient.until(() => healthyClient.run('healthy').some((f) => f.type === 'input_request'))
  t.same(runner.loads, [1, 1], 'one run on each worker')

  stopped.push(victim)
  process.kill(victim, 'SIGSTOP')
  const frames = await victimClient.untilEnded('victim')
  const last = frames.at(-1) as RunErrorFrame
  t.same([last.type, last.code, last.message], ['error', 'AGS_WORKER_UNRESPONSIVE', `The Python worker running this run stopped answering for ${heartbeatTimeout} ms (heartbeatTimeout) and was killed`])
  t.same(seqProblems(frames), [], 'the frozen run\'s frames are whole up to its error')
  t.ok(logs.lines.some((l) => l.level === 40 && typeof l.msg === 'string' && l.msg.includes(`left a heartbeat unanswered, and wrote nothing else, for ${heartbeatTimeout} ms (heartbeatTimeout); killed`) && l.worker === victim), 'the heartbeat found it')
  t.notOk(logs.lines.some((l) => l.code === 'AGS_WORKER_DIED'), 'not taken for a crash')

  await waitFor(() => !alive(victim))
  await waitFor(() => runner.pids[slot] !== undefined && runner.pids[slot] !== victim)
  t.pass('the frozen process is gone and a new worker took its slot')

  const healthy = await approve(healthyClient, 'healthy')
  t.same(transcript(healthy), reference, 'the run on the other worker went on as if nothing happened')
  t.same(seqProblems(healthy), [])

  // The replacement serves; the victim's connection was never touched.
  await runner.ready()
  victimClient.send({ type: 'start', runId: 'after', task: 'x', options: { example: 'streaming_agent' } })
  t.equal((await victimClient.untilEnded('after')).at(-1)?.type, 'result')
  t.equal(victimClient.ws.readyState, victimClient.ws.OPEN)
  t.equal(healthyClient.ws.readyState, healthyClient.ws.OPEN)
})

t.test('a busy worker is not frozen: runs streaming as fast as the worker goes, heartbeats every 100 ms, all complete', async (t) => {
  // Not less than 2 s: the four factories below build their replay clients
  // in the worker's loop, which blocks it for real (0.5 s measured here with
  // PYTHONASYNCIODEBUG); what this test holds is that streaming does not.
  const runner = examplesRunner({ workers: 1, heartbeatInterval: 100, heartbeatTimeout: 2000 })
  const logs = logCollector()
  const { app, url } = await startServer({ runner }, undefined, logs.stream)
  t.after(() => app.close())
  await runner.ready()
  const [pid] = runner.pids
  const c = await Client.connect(url)
  t.after(() => c.close())
  const runs = ['a', 'b', 'c', 'd']
  for (const runId of runs) c.send({ type: 'start', runId, task: 'x', options: { example: 'long_stream', words: 20_000 } })
  for (const runId of runs) {
    const frames = await c.untilEnded(runId)
    t.same(frames.at(-1)?.type === 'result' ? 'result' : frames.at(-1), 'result', `run ${runId} completed`)
    t.equal(frames.filter((f) => f.type === 'token').reduce((n, f) => n + (f as { chunks: number }).chunks, 0), 20_000, `run ${runId}: every token`)
  }
  t.equal(runner.pids[0], pid, 'the same worker all along')
  t.notOk(logs.lines.some((l) => typeof l.msg === 'string' && l.msg.includes('(heartbeatTimeout)')), 'the heartbeat never fired')
})
