// The load generator: a child process of benchmarks/run.js with real ws
// clients over 127.0.0.1. Every job is bounded in count and time.
import WebSocket from 'ws'

// CLOCK_MONOTONIC, shared with the server processes (see servers/common.js).
const now = () => { const [s, ns] = process.hrtime(); return s * 1e3 + ns / 1e6 }

function percentiles (values) {
  if (values.length === 0) return null
  const sorted = Float64Array.from(values).sort()
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
  return { p50: at(0.5), p99: at(0.99), p999: at(0.999), max: sorted[sorted.length - 1], count: sorted.length }
}

/** How each server speaks: what to send, how to count tokens, when a run is over. */
const flavours = {
  // plugin and raw ws: token frames (text may hold several chunks, each
  // `<yielded>;` or `<yielded>@<due>;`: servers/common.js chunkEvent), result frame
  frames: {
    protocols: ['autogen-stream.v1'],
    start: (runId, job) => ({ type: 'start', runId, task: 'go', options: { tokens: job.tokens, rate: job.rate, words: job.tokens } }),
    read (frame, stream, latency) {
      if (frame.type === 'token') {
        stream.tokens += frame.chunks
        if (latency !== null) for (const ts of frame.text.split(';')) if (ts !== '') latency.add(stream.at, ts)
        return false
      }
      return frame.type === 'result' || frame.type === 'error' || frame.type === 'cancelled'
    }
  },
  // naive fastify and FastAPI: AutoGen events verbatim, one per frame
  events: {
    protocols: [],
    start: (runId, job) => ({ type: 'start', runId, task: 'go', options: { tokens: job.tokens, rate: job.rate }, words: job.tokens }),
    read (frame, stream, latency) {
      if (frame.type === 'ModelClientStreamingChunkEvent') {
        stream.tokens++
        if (latency !== null) latency.add(stream.at, frame.content.split(';')[0])
        return false
      }
      if (frame.type !== 'TaskResult') return false
      // The FastAPI baseline says which of its processes ran the run.
      if (frame.worker !== undefined) stream.worker = frame.worker
      return true
    }
  }
}

/**
 * Latency samples of one job, in ms: from the time the runner yielded each
 * chunk, and (paced runners) from the time it was due. Only the steady
 * state counts: samples received once every stream has had its first token
 * (before that, the server is still accepting the other connections and
 * starting their runs). Also how the frames came in: the first frame the
 * client handles in a turn of its event loop (it was idle, or busy with
 * something else) and the ones after it in the same turn (they waited in
 * the kernel while the client handled the ones before).
 */
function latencySamples () {
  const at = []
  const yielded = []
  const due = []
  const first = []
  const turn = { open: false, first: false, at: -1, turns: [] }
  const close = () => { turn.open = false }
  return {
    add (receivedAt, piece) {
      // One turn of the client's event loop: every message handled before its next setImmediate.
      if (receivedAt !== turn.at) {
        turn.at = receivedAt
        turn.first = !turn.open
        if (!turn.open) { turn.open = true; turn.turns.push(receivedAt); setImmediate(close) }
      }
      const sep = piece.indexOf('@')
      at.push(receivedAt)
      yielded.push(receivedAt - Number(sep === -1 ? piece : piece.slice(0, sep)))
      due.push(sep === -1 ? NaN : receivedAt - Number(piece.slice(sep + 1)))
      first.push(turn.first)
    },
    /** From `steadyFrom` on (the last stream's first token). */
    summary (steadyFrom, t0) {
      const keep = []
      for (let i = 0; i < at.length; i++) if (at[i] >= steadyFrom) keep.push(i)
      const pick = (values, filter = () => true) => keep.filter(filter).map((i) => values[i])
      const fromDue = pick(due).filter((v) => !Number.isNaN(v))
      return {
        ...percentiles(pick(yielded)),
        fromDue: percentiles(fromDue),
        steadyFromS: (steadyFrom - t0) / 1000,
        allSamples: at.length,
        clientTurns: turn.turns.filter((t) => t >= steadyFrom).length,
        firstInTurn: percentiles(pick(yielded, (i) => first[i])),
        laterInTurn: percentiles(pick(yielded, (i) => !first[i]))
      }
    }
  }
}

async function streams (job) {
  const flavour = flavours[job.flavour]
  const latency = job.latency ? latencySamples() : null
  const ttft = []
  // Per completed stream: from sending its start to its terminal frame.
  const runMs = []
  let frames = 0
  let tokens = 0
  let done = 0
  let failed = 0
  // Runs per server process, when the server tells (the FastAPI baseline's TaskResult.worker).
  const workers = {}
  let lastFirstToken = 0
  const sockets = []
  const t0 = now()
  let tEnd = 0
  await new Promise((resolve) => {
    const deadline = setTimeout(resolve, job.timeoutMs)
    const finish = () => { if (++done === job.streams) { tEnd = now(); clearTimeout(deadline); resolve() } }
    for (let i = 0; i < job.streams; i++) {
      const ws = new WebSocket(job.url, flavour.protocols, { perMessageDeflate: false })
      sockets.push(ws)
      const stream = { tokens: 0, at: 0, sentAt: 0, first: true, over: false }
      ws.on('open', () => {
        stream.sentAt = now()
        ws.send(JSON.stringify(flavour.start(`s${i}`, job)))
        if (job.pauseMs > 0) ws.pause()
      })
      ws.on('message', (data) => {
        stream.at = now()
        frames++
        const before = stream.tokens
        const over = flavour.read(JSON.parse(data), stream, latency)
        if (stream.first && stream.tokens > before) {
          stream.first = false
          ttft.push(stream.at - stream.sentAt)
          if (stream.at > lastFirstToken) lastFirstToken = stream.at
        }
        if (over && !stream.over) {
          stream.over = true
          runMs.push(stream.at - stream.sentAt)
          tokens += stream.tokens
          if (stream.worker !== undefined) workers[stream.worker] = (workers[stream.worker] ?? 0) + 1
          finish()
        }
      })
      ws.on('error', () => {})
      ws.on('close', () => { if (!stream.over) { stream.over = true; failed++; tokens += stream.tokens; finish() } })
    }
    if (job.pauseMs > 0) {
      setTimeout(() => {
        process.send({ type: 'resuming' })
        if (job.dropAfterPause) { for (const ws of sockets) ws.terminate() } else { for (const ws of sockets) ws.resume() }
      }, job.pauseMs)
    }
  })
  if (tEnd === 0) tEnd = now()
  for (const ws of sockets) ws.terminate()
  const seconds = (tEnd - t0) / 1000
  return {
    streams: job.streams,
    tokens,
    expectedTokens: job.streams * job.tokens,
    frames,
    failed,
    completed: done - failed,
    seconds,
    tokensPerS: tokens / seconds,
    framesPerS: frames / seconds,
    latencyMs: latency === null ? null : latency.summary(lastFirstToken, t0),
    ttftMs: percentiles(ttft),
    runMs: percentiles(runMs),
    workers
  }
}

// ------------------------------------------------------------ resume (v2)

const V2 = 'autogen-stream.v2'
const TERMINAL = new Set(['result', 'cancelled', 'error'])
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** Opens a v2 connection; every frame goes to `onFrame(frame, bytes, at)`. */
function openV2 (url, onFrame) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, [V2], { perMessageDeflate: false })
    ws.on('message', (data) => { const at = now(); onFrame(JSON.parse(data), data.length, at) })
    ws.once('open', () => { ws.on('error', () => {}); resolve(ws) })
    ws.once('error', reject)
  })
}

/**
 * Starts a run of `tokens` chunks (rate 0: as fast as the runner can) on its
 * own connection, which reads it live. `ended` resolves with the terminal frame.
 */
async function startRun (url, runId, tokens, rate) {
  const run = { resumeToken: null, lastSeq: -1, chunks: 0, terminal: null }
  let onStarted
  let onEnded
  const started = new Promise((resolve) => { onStarted = resolve })
  const ended = new Promise((resolve) => { onEnded = resolve })
  const ws = await openV2(url, (frame) => {
    if (frame.runId !== runId) {
      if (frame.type === 'error') { run.terminal = frame; onStarted(); onEnded(frame) }
      return
    }
    if (frame.seq !== undefined) run.lastSeq = frame.seq
    if (frame.type === 'started') { run.resumeToken = frame.resumeToken ?? null; onStarted() } else if (frame.type === 'token') run.chunks += frame.chunks
    if (TERMINAL.has(frame.type)) { run.terminal = frame; onStarted(); onEnded(frame) }
  })
  ws.send(JSON.stringify({ type: 'start', runId, task: 'go', options: { tokens, rate } }))
  return { ws, run, started, ended }
}

/** A finished run to attach to: started, read to its end, its connection closed. */
async function resumeStart (job) {
  const t0 = now()
  const { ws, run, ended } = await startRun(job.url, job.runId, job.tokens, job.rate ?? 0)
  const terminal = await Promise.race([ended, sleep(job.timeoutMs).then(() => null)])
  ws.terminate()
  if (terminal === null || terminal.type !== 'result') throw new Error(`run ${job.runId} did not end with a result: ${JSON.stringify(terminal)}`)
  return { lastSeq: run.lastSeq, chunks: run.chunks, hasResumeToken: run.resumeToken !== null, seconds: (now() - t0) / 1000 }
}

/**
 * `attaches` times on one connection: attach {after: -1}, note when
 * `attached` and the first replayed frame arrive, then read the replay to
 * the run's terminal frame (a finished run), or detach and wait for
 * `detached` (`live`: the run is started here at `live.rate` chunks/s and
 * attached to while it runs, its own connection reading it live; cancelled
 * at the end). Each attach starts once the previous one is over.
 */
async function attachLatency (job) {
  let live = null
  if (job.live !== undefined) {
    live = await startRun(job.url, job.runId, job.live.tokens, job.live.rate)
    await live.started
    await sleep(job.live.warmMs)
  }
  const attached = []
  const first = []
  const lastSeqs = []
  let handle = () => {}
  const ws = await openV2(job.url, (frame, bytes, at) => handle(frame, at))
  const deadline = now() + job.timeoutMs
  let endedEarly = false
  try {
    for (let i = 0; i < job.attaches && now() < deadline; i++) {
      if (live !== null && live.run.terminal !== null) { endedEarly = true; break }
      await new Promise((resolve, reject) => {
        const t0 = now()
        let seen = false
        const timer = setTimeout(() => reject(new Error(`attach ${i}: not over in 30 s`)), 30_000)
        const done = () => { clearTimeout(timer); resolve() }
        handle = (frame, at) => {
          if (frame.type === 'attached') {
            attached.push(at - t0)
            lastSeqs.push(frame.lastSeq)
          } else if (frame.type === 'detached') {
            done()
          } else if (frame.type === 'error' && frame.seq === undefined) {
            clearTimeout(timer)
            reject(new Error(`${frame.code}: ${frame.message}`))
          } else if (frame.runId === job.runId && frame.seq !== undefined) {
            if (!seen) {
              seen = true
              first.push(at - t0)
              // A detach that came after the terminal frame would be a bad frame (AGS_UNKNOWN_RUN), and maxBadFrames of them close the connection.
              if (live !== null) ws.send(JSON.stringify({ type: 'detach', runId: job.runId }))
            }
            if (TERMINAL.has(frame.type)) {
              if (live !== null) { clearTimeout(timer); reject(new Error('the live run ended during an attach')) } else done()
            }
          }
        }
        ws.send(JSON.stringify({ type: 'attach', runId: job.runId, after: -1 }))
      })
    }
  } finally {
    ws.terminate()
    if (live !== null) {
      if (live.run.terminal === null) live.ws.send(JSON.stringify({ type: 'cancel', runId: job.runId }))
      await Promise.race([live.ended, sleep(5000)])
      live.ws.terminate()
    }
  }
  return {
    attachedMs: percentiles(attached),
    firstFrameMs: percentiles(first),
    logEntriesAtAttach: lastSeqs.length ? { min: Math.min(...lastSeqs) + 1, max: Math.max(...lastSeqs) + 1 } : null,
    endedEarly
  }
}

/** One attach {after: -1}, read to the run's terminal frame: what the server answered and how much of the log it replayed. */
async function attachOnce (job) {
  const seen = { answer: null, replayed: 0, firstSeq: null }
  let finish
  const over = new Promise((resolve) => { finish = resolve })
  const ws = await openV2(job.url, (frame) => {
    if (frame.type === 'attached') seen.answer = { type: 'attached', oldestSeq: frame.oldestSeq ?? null, lastSeq: frame.lastSeq }
    else if (frame.type === 'error' && frame.seq === undefined) { seen.answer = { type: 'error', code: frame.code, oldestSeq: frame.oldestSeq ?? null, lastSeq: frame.lastSeq ?? null }; finish() } else if (frame.runId === job.runId && frame.seq !== undefined) {
      const n = frame.type === 'token' ? frame.chunks : 1
      if (seen.firstSeq === null) seen.firstSeq = frame.seq - n + 1
      seen.replayed += n
      if (TERMINAL.has(frame.type)) finish()
    }
  })
  ws.send(JSON.stringify({ type: 'attach', runId: job.runId, after: -1 }))
  await Promise.race([over, sleep(job.timeoutMs)])
  ws.terminate()
  return seen
}

/**
 * `clients` connections, opened first (replayOpen), then all attach
 * {after: -1} to one finished run at once and read it to its terminal frame
 * (replayGo); the orchestrator reads the server's CPU in between. Checks the
 * v2 seq rule (seq - chunks === previous seq) on every client.
 */
let replaying = null
async function replayOpen (job) {
  const clients = []
  for (let i = 0; i < job.clients; i++) {
    const c = { frames: 0, tokenFrames: 0, merged: 0, maxChunks: 0, chunks: 0, bytes: 0, lastSeq: -1, seqErrors: 0, first: 0, end: 0, terminal: null, error: null, resolve: () => {} }
    c.ws = await openV2(job.url, (frame, bytes, at) => {
      if (frame.seq === undefined) {
        if (frame.type === 'error') { c.error = frame.code; c.end = at; c.resolve() }
        return
      }
      if (c.frames++ === 0) c.first = at
      c.bytes += bytes
      const n = frame.type === 'token' ? frame.chunks : 1
      if (frame.seq - n !== c.lastSeq) c.seqErrors++
      c.lastSeq = frame.seq
      if (frame.type === 'token') {
        c.tokenFrames++
        c.chunks += frame.chunks
        if (frame.chunks > 1) c.merged++
        if (frame.chunks > c.maxChunks) c.maxChunks = frame.chunks
      }
      if (TERMINAL.has(frame.type)) { c.terminal = frame.type; c.end = at; c.resolve() }
    })
    clients.push(c)
  }
  replaying = { job, clients }
  return { open: clients.length }
}

async function replayGo () {
  if (replaying === null) throw new Error('replayGo without replayOpen')
  const { job, clients } = replaying
  replaying = null
  const t0 = now()
  const all = Promise.all(clients.map((c) => new Promise((resolve) => {
    c.resolve = resolve
    c.ws.send(JSON.stringify({ type: 'attach', runId: job.runId, after: -1 }))
  })))
  const finished = await Promise.race([all.then(() => true), sleep(job.timeoutMs).then(() => false)])
  const tEnd = finished ? Math.max(...clients.map((c) => c.end)) : now()
  for (const c of clients) c.ws.terminate()
  const seconds = (tEnd - t0) / 1000
  const sum = (key) => clients.reduce((n, c) => n + c[key], 0)
  const frames = sum('frames')
  const chunks = sum('chunks')
  const bytes = sum('bytes')
  const tokenFrames = sum('tokenFrames')
  const perClient = clients.map((c) => (c.end - t0) / 1000).sort((a, b) => a - b)
  return {
    clients: job.clients,
    seconds,
    frames,
    chunks,
    bytes,
    framesPerS: frames / seconds,
    chunksPerS: chunks / seconds,
    mbPerS: bytes / 1e6 / seconds,
    firstFrameMs: percentiles(clients.map((c) => c.first - t0)),
    clientSecondsMedian: perClient[Math.floor((perClient.length - 1) / 2)],
    mergedShare: tokenFrames === 0 ? 0 : sum('merged') / tokenFrames,
    chunksPerTokenFrame: tokenFrames === 0 ? 0 : chunks / tokenFrames,
    maxChunksPerFrame: Math.max(...clients.map((c) => c.maxChunks)),
    seqErrors: sum('seqErrors'),
    errors: clients.map((c) => c.error).filter((e) => e !== null),
    complete: finished && clients.every((c) => c.terminal === 'result' && c.chunks === job.expectedChunks && c.seqErrors === 0) ? 1 : 0
  }
}

async function replay (job) {
  await replayOpen(job)
  return replayGo()
}

// ------------------------------------------------------- Redis scale-out

/**
 * `streams` v1 connections (the `frames` flavour), each starting a run of
 * `tokens` words and never reading a byte after (the socket is paused as soon
 * as the start is sent): held, as the idle connections are, until `release`.
 */
async function hold (job) {
  const flavour = flavours.frames
  let open = 0
  await new Promise((resolve, reject) => {
    const deadline = setTimeout(() => reject(new Error(`only ${open} of ${job.streams} opened`)), job.timeoutMs)
    for (let i = 0; i < job.streams; i++) {
      const ws = new WebSocket(job.url, flavour.protocols, { perMessageDeflate: false })
      ws.on('error', () => {})
      ws.on('open', () => {
        ws.send(JSON.stringify(flavour.start(`held${i}`, job)))
        ws.pause()
        if (++open === job.streams) { clearTimeout(deadline); resolve() }
      })
      idle.push(ws)
    }
  })
  return { open }
}

/**
 * A gateway killed mid-run, in two jobs. failoverStart: a v2 client opens a
 * connection to gateway B (`otherUrl`) first, then starts a run of `words`
 * words on gateway A (`url`) and reads it live; resolves once `minTokens`
 * chunks have come, and goes on reading A (its last seq) until A dies.
 * failoverResume (the orchestrator has just sent SIGKILL to A, at `killedAt`
 * on the shared monotonic clock): as soon as A's connection closes, attach
 * {after: last seq, resumeToken} on B, which was open all along (no reconnect
 * delay), and read the rest of the run to its terminal frame.
 */
let failover = null
async function failoverStart (job) {
  const s = { runId: job.runId, words: job.words, resumeToken: null, lastSeq: -1, chunks: 0, terminal: null, closedAt: 0, onB: () => {}, onClose: () => {} }
  let reached
  const enough = new Promise((resolve) => { reached = resolve })
  s.b = await openV2(job.otherUrl, (frame, bytes, at) => s.onB(frame, at))
  s.a = await openV2(job.url, (frame) => {
    if (frame.runId !== job.runId) return
    if (frame.type === 'started') s.resumeToken = frame.resumeToken ?? null
    if (frame.seq !== undefined) s.lastSeq = frame.seq
    if (frame.type === 'token') { s.chunks += frame.chunks; if (s.chunks >= job.minTokens) reached() }
    if (TERMINAL.has(frame.type)) { s.terminal = frame; reached() }
  })
  s.a.once('close', () => { s.closedAt = now(); s.onClose() })
  s.a.send(JSON.stringify({ type: 'start', runId: job.runId, task: 'go', options: { words: job.words } }))
  const ok = await Promise.race([enough.then(() => true), sleep(job.timeoutMs).then(() => false)])
  if (!ok || s.terminal !== null) {
    s.a.terminate()
    s.b.terminate()
    throw new Error(ok ? `run ${job.runId} ended (${s.terminal.type}) before the kill: too short` : `run ${job.runId}: ${s.chunks} of ${job.minTokens} chunks in ${job.timeoutMs} ms`)
  }
  failover = s
  return { chunks: s.chunks, lastSeq: s.lastSeq }
}

async function failoverResume (job) {
  const s = failover
  failover = null
  if (s === null) throw new Error('failoverResume without failoverStart')
  try {
    if (s.closedAt === 0) await Promise.race([new Promise((resolve) => { s.onClose = resolve }), sleep(job.timeoutMs)])
    if (s.closedAt === 0) throw new Error('the killed gateway\'s connection did not close')
    const after = s.lastSeq
    const b = { attachedAt: 0, attachedLastSeq: null, firstAt: 0, firstSeqOk: null, lastSeq: after, prevAt: 0, maxGapMs: 0, maxGapAtSeq: null, maxGapEndAt: 0, chunks: 0, seqErrors: 0, terminal: null, endAt: 0 }
    const done = new Promise((resolve) => {
      s.onB = (frame, at) => {
        if (frame.type === 'attached' && frame.runId === s.runId) { b.attachedAt = at; b.attachedLastSeq = frame.lastSeq; return }
        if (frame.type === 'error' && frame.seq === undefined) { b.terminal = { type: 'error', code: frame.code }; b.endAt = at; resolve(); return }
        if (frame.runId !== s.runId || frame.seq === undefined) return
        const n = frame.type === 'token' ? frame.chunks : 1
        if (b.firstAt === 0) { b.firstAt = at; b.firstSeqOk = frame.seq - n === after ? 1 : 0 } else if (at - b.prevAt > b.maxGapMs) { b.maxGapMs = at - b.prevAt; b.maxGapAtSeq = b.lastSeq; b.maxGapEndAt = at }
        if (frame.seq - n !== b.lastSeq) b.seqErrors++
        b.lastSeq = frame.seq
        b.prevAt = at
        if (frame.type === 'token') b.chunks += frame.chunks
        if (TERMINAL.has(frame.type)) { b.terminal = { type: frame.type, code: frame.code }; b.endAt = at; resolve() }
      }
    })
    const attachAt = now()
    s.b.send(JSON.stringify({ type: 'attach', runId: s.runId, after, resumeToken: s.resumeToken }))
    await Promise.race([done, sleep(job.timeoutMs)])
    const since = (t) => (t === 0 ? null : t - job.killedAt)
    return {
      after,
      chunksBeforeKill: s.chunks,
      killToClosedMs: since(s.closedAt),
      closedToAttachMs: attachAt - s.closedAt,
      attachToAttachedMs: b.attachedAt === 0 ? null : b.attachedAt - attachAt,
      attachToFirstFrameMs: b.firstAt === 0 ? null : b.firstAt - attachAt,
      killToFirstFrameMs: since(b.firstAt),
      attachedLastSeq: b.attachedLastSeq,
      // How far the host had gone past the client's last seq when it attached: at most maxRunLag.events past the dead gateway's last commit.
      headAheadAtAttach: b.attachedLastSeq === null ? null : b.attachedLastSeq - after,
      firstSeqOk: b.firstSeqOk,
      maxGapMs: b.maxGapMs,
      maxGapAfterSeq: b.maxGapAtSeq,
      killToMaxGapEndMs: since(b.maxGapEndAt),
      killToEndMs: since(b.endAt),
      chunksAfter: b.chunks,
      seqErrors: b.seqErrors,
      terminal: b.terminal,
      complete: b.terminal?.type === 'result' && s.chunks + b.chunks === s.words && b.seqErrors === 0 && b.firstSeqOk === 1 ? 1 : 0
    }
  } finally {
    s.a.terminate()
    s.b.terminate()
  }
}

let idle = []
async function openIdle (job) {
  const flavour = flavours[job.flavour]
  let open = 0
  await new Promise((resolve, reject) => {
    const deadline = setTimeout(() => reject(new Error(`only ${open} of ${job.connections} opened`)), job.timeoutMs)
    let i = 0
    const next = () => {
      // Open in batches so the server's accept queue is not overrun.
      for (let k = 0; k < 200 && i < job.connections; k++, i++) {
        const ws = new WebSocket(job.url, flavour.protocols, { perMessageDeflate: false })
        ws.on('error', () => {})
        ws.on('open', () => {
          if (++open === job.connections) { clearTimeout(deadline); resolve() } else if (open % 200 === 0) next()
        })
        idle.push(ws)
      }
    }
    next()
  })
  return { open }
}

process.on('message', async (msg) => {
  try {
    let result
    if (msg.job.kind === 'streams') result = await streams(msg.job)
    else if (msg.job.kind === 'idle') result = await openIdle(msg.job)
    else if (msg.job.kind === 'resumeStart') result = await resumeStart(msg.job)
    else if (msg.job.kind === 'attachLatency') result = await attachLatency(msg.job)
    else if (msg.job.kind === 'replay') result = await replay(msg.job)
    else if (msg.job.kind === 'attachOnce') result = await attachOnce(msg.job)
    else if (msg.job.kind === 'replayOpen') result = await replayOpen(msg.job)
    else if (msg.job.kind === 'replayGo') result = await replayGo()
    else if (msg.job.kind === 'hold') result = await hold(msg.job)
    else if (msg.job.kind === 'failoverStart') result = await failoverStart(msg.job)
    else if (msg.job.kind === 'failoverResume') result = await failoverResume(msg.job)
    else if (msg.job.kind === 'release') { for (const ws of idle) ws.terminate(); idle = []; result = {} }
    process.send({ type: 'result', id: msg.id, result })
  } catch (err) {
    process.send({ type: 'result', id: msg.id, error: err.message })
  }
})
process.send({ type: 'ready' })
