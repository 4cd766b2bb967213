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
  // plugin and raw ws: token frames (text may hold several chunks), result frame
  frames: {
    protocols: ['autogen-stream.v1'],
    start: (runId, job) => ({ type: 'start', runId, task: 'go', options: { tokens: job.tokens, rate: job.rate, words: job.tokens } }),
    read (frame, stream, latency) {
      if (frame.type === 'token') {
        stream.tokens += frame.chunks
        if (latency !== null) for (const ts of frame.text.split(';')) if (ts !== '') latency.push(stream.at - Number(ts))
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
        if (latency !== null) latency.push(stream.at - Number(frame.content.split(';')[0]))
        return false
      }
      return frame.type === 'TaskResult'
    }
  }
}

async function streams (job) {
  const flavour = flavours[job.flavour]
  const latency = job.latency ? [] : null
  const ttft = []
  let frames = 0
  let tokens = 0
  let done = 0
  let failed = 0
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
        if (stream.first && stream.tokens > before) { stream.first = false; ttft.push(stream.at - stream.sentAt) }
        if (over && !stream.over) { stream.over = true; tokens += stream.tokens; finish() }
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
    latencyMs: latency === null ? null : percentiles(latency),
    ttftMs: percentiles(ttft)
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
    else if (msg.job.kind === 'release') { for (const ws of idle) ws.terminate(); idle = []; result = {} }
    process.send({ type: 'result', id: msg.id, result })
  } catch (err) {
    process.send({ type: 'result', id: msg.id, error: err.message })
  }
})
process.send({ type: 'ready' })
