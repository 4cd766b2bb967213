import t from 'tap'
import { Client, seqProblems, waitFor, isTerminal } from './fixtures/server.js'
import { bridgeSession, runStats } from './fixtures/python.js'
import { attachWith, attachedFrame, framesAfterAttached, liveStats, transcript, untilWorker } from './fixtures/bridge-resume.js'
import type { ConnectionErrorFrame, EventFrame, InputRequestFrame, ResultFrame } from '../lib/index.js'

/*
 * A UserProxyAgent asks for input through the bridge; the client that
 * started the run is cut before it answers. The run waits (in Python, on
 * the bridge's input function). Clients that attach with the resume token
 * get the pending input_request: sent again first (`resent: true`, its
 * original seq) to one that attaches from at or after its seq, in the
 * replay to one that attaches from before it. The first `input` reaches
 * the UserProxyAgent; any later one for that request is AGS_UNKNOWN_REQUEST.
 */

const isInputRequest = (f: { type: string }): f is InputRequestFrame => f.type === 'input_request'

t.test('an input request outlives the connection it was sent on; the first answer after a reconnect wins', async (t) => {
  const { runner, app, url } = await bridgeSession(t)
  const a = await Client.connect(url)
  t.after(() => a.close())
  a.send({ type: 'start', runId: 'hil', task: 'Plan my week', options: { example: 'user_proxy_team' } })
  await a.until(() => a.run('hil').some(isInputRequest))
  const request = a.run('hil').find(isInputRequest) as InputRequestFrame
  const requested = a.run('hil').filter((f): f is EventFrame => f.type === 'event')
    .map((f) => f.event as Record<string, unknown>).find((e) => e.type === 'UserInputRequestedEvent')
  t.equal(request.requestId, requested?.request_id, "the input_request carries AutoGen's request_id")
  const token = a.tokens.get('hil')
  a.ws.terminate()
  await a.closed
  const aFrames = a.run('hil')
  t.equal(aFrames.at(-1), request, 'A was cut with the input_request as its last frame, unanswered')
  await waitFor(() => app.autogenStream.runsDetached === 1)
  // The run is still there in Python, waiting on its input function.
  t.type(runStats(await liveStats(runner), 'hil'), 'object', 'the Python run waits for its input')

  // B attaches from the input_request's own seq: the pending request is sent again, marked resent.
  const b = await attachWith(url, 'hil', request.seq, token)
  t.after(() => b.close())
  await b.until(() => b.run('hil').some(isInputRequest))
  const bAttached = attachedFrame(b, 'hil')
  t.same([b.frames[0]?.type, bAttached?.after, bAttached?.lastSeq, bAttached?.ended], ['attached', request.seq, request.seq, false],
    'attached at the input_request, the last seq of the waiting run')
  t.same(framesAfterAttached(b, 'hil'), [{ ...request, resent: true }], 'B gets the pending input_request again: resent, with its original seq')

  // C attaches from just before it: the input_request comes in the replay, not resent.
  const c = await attachWith(url, 'hil', request.seq - 1, token)
  t.after(() => c.close())
  await c.until(() => c.run('hil').some(isInputRequest))
  const cAttached = attachedFrame(c, 'hil')
  t.same([c.frames[0]?.type, cAttached?.after, cAttached?.lastSeq, cAttached?.ended], ['attached', request.seq - 1, request.seq, false])
  t.same(framesAfterAttached(c, 'hil'), [request], 'C gets it in the replay, as it was first sent')

  // B answers; its second answer, and C's, come too late.
  b.send({ type: 'input', runId: 'hil', requestId: request.requestId, content: 'Move Monday to Tuesday' })
  b.send({ type: 'input', runId: 'hil', requestId: request.requestId, content: 'Cancel Friday' })
  const unknown = { type: 'error', code: 'AGS_UNKNOWN_REQUEST', ref: { type: 'input', runId: 'hil', requestId: request.requestId } }
  await b.until(() => b.frames.some((f) => f.type === 'error'))
  t.match(b.frames.filter((f): f is ConnectionErrorFrame => f.type === 'error'), [unknown], 'a second input for the same request: AGS_UNKNOWN_REQUEST')
  // The user's answer is in the run (both watchers see it) before C answers.
  const answered = (frames: Array<{ type: string }>): boolean => frames.some((f) => {
    const e = f.type === 'event' ? (f as EventFrame).event as Record<string, unknown> : undefined
    return e?.type === 'TextMessage' && e.source === 'user' && e.content === 'Move Monday to Tuesday'
  })
  await c.until(() => answered(c.run('hil')))
  c.send({ type: 'input', runId: 'hil', requestId: request.requestId, content: 'Cancel Friday' })
  await c.until(() => c.frames.some((f) => f.type === 'error'))
  t.match(c.frames.filter((f): f is ConnectionErrorFrame => f.type === 'error'), [unknown], "another client's input for it: AGS_UNKNOWN_REQUEST")

  // The team goes on to ask again; B approves.
  await b.until(() => b.run('hil').filter((f) => isInputRequest(f) && f.resent !== true).length === 1)
  const second = b.run('hil').filter((f): f is InputRequestFrame => isInputRequest(f) && f.resent !== true)[0] as InputRequestFrame
  t.not(second.requestId, request.requestId, 'a new request')
  t.notOk('resent' in second, 'sent as it happens, not resent')
  b.send({ type: 'input', runId: 'hil', requestId: second.requestId, content: 'APPROVE' })
  const bRun = await b.untilEnded('hil')
  const cRun = await c.untilEnded('hil')
  t.equal(b.frames.filter((f) => f.type === 'error').length, 1, 'B got no other error')
  t.equal(c.frames.filter((f) => f.type === 'error').length, 1, 'C got no other error')

  t.same(seqProblems(framesAfterAttached(b, 'hil'), 'v2', request.seq), [], "B's frames follow the input_request's seq without gap (the resent one aside)")
  t.same(seqProblems(framesAfterAttached(c, 'hil'), 'v2', request.seq - 1), [], "C's frames follow its after without gap")
  const bJoined = [...aFrames, ...framesAfterAttached(b, 'hil')]
  const cJoined = [...aFrames.filter((f) => f.seq < request.seq), ...framesAfterAttached(c, 'hil')]
  t.same(seqProblems(bJoined), [])
  t.same(transcript(bJoined), transcript(cJoined), 'B and C read the same run')
  t.ok(isTerminal(bRun.at(-1) as ResultFrame) && isTerminal(cRun.at(-1) as ResultFrame))
  t.same(bRun.at(-1), cRun.at(-1), 'the same result for both')

  const result = (bRun.at(-1) as ResultFrame).result
  t.equal(bRun.at(-1)?.type, 'result')
  t.match(result.stop_reason, /APPROVE/)
  const userMessages = result.messages.filter((m) => m.source === 'user' && m.type === 'TextMessage').map((m) => m.content)
  t.same(userMessages, ['Plan my week', 'Move Monday to Tuesday', 'APPROVE'], 'the UserProxyAgent got exactly the first answer')
  t.equal(transcript(bJoined).events.filter((e) => e.type === 'UserInputRequestedEvent').length, 2, 'AutoGen asked twice in all')

  const s = await untilWorker(runner, (w) => w.active === 0)
  t.same(runStats(s, 'hil'), undefined, 'the Python run is over')
  t.equal(app.autogenStream.runs, 0)
})
