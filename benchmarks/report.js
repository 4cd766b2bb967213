// Regenerates docs/benchmarks.md, its chart, and the README's headline table
// from a results file. `node benchmarks/report.js [results.json]` redoes it
// without running anything.
import { readFileSync, writeFileSync, existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const num = (n, digits = 0) => typeof n === 'number' && Number.isFinite(n)
  ? n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits })
  : 'n/a'

/** "median (min–max)" of a folded figure. */
function fig (f, digits = 0) {
  if (f === null || f === undefined) return 'n/a'
  if (typeof f === 'number') return num(f, digits)
  if (f.n === 1 || f.min === f.max) return num(f.median, digits)
  return `${num(f.median, digits)} (${num(f.min, digits)}–${num(f.max, digits)})`
}
const med = (f) => (typeof f === 'number' ? f : f?.median)
const signed = (n, digits) => `${n >= 0 ? '+' : '−'}${num(Math.abs(n), digits)}`

/**
 * RSS change from the moment the runners stopped being pulled (the events
 * pulled per run reached their final count: the kernel buffers are full)
 * to the end of the stall. Before that moment the data still flows into
 * the kernel, and the heap saws up and down with it.
 */
function afterHeld (timeline) {
  if (!Array.isArray(timeline) || timeline.length === 0) return { change: null, from: null }
  const last = timeline.at(-1).pulledMax
  const i = timeline.findIndex((p) => p.pulledMax === last)
  // The one sample taken right after a forced GC is not the heap's own doing.
  const rest = timeline.slice(i).filter((p) => p.gc !== true).map((p) => p.rssMiB)
  return { change: Math.max(...rest) - Math.min(...rest), from: timeline[i].t, samples: rest.length }
}
const verdict = (ok) => (ok === undefined || ok === null ? '' : ok ? 'met' : '**not met**')

function chart (slow) {
  const series = Object.entries(slow).filter(([, v]) => Array.isArray(v.timeline)).map(([label, v]) => ({ label, points: v.timeline }))
  if (series.length === 0) return null
  const W = 720; const H = 320; const L = 60; const B = 40; const T = 30; const R = 180
  const maxT = Math.max(...series.flatMap((s) => s.points.map((p) => p.t)), 1)
  const maxY = Math.max(...series.flatMap((s) => s.points.map((p) => p.rssMiB)), 16)
  const x = (t) => L + (t / maxT) * (W - L - R)
  const y = (v) => H - B - (Math.max(v, 0) / maxY) * (H - B - T)
  const colors = ['#1f77b4', '#d62728', '#2ca02c']
  const lines = series.map((s, i) => {
    const d = s.points.map((p, k) => `${k === 0 ? 'M' : 'L'}${x(p.t).toFixed(1)},${y(p.rssMiB).toFixed(1)}`).join(' ')
    return `<path d="${d}" fill="none" stroke="${colors[i % 3]}" stroke-width="2"/>` +
      `<text x="${W - R + 10}" y="${T + 20 + i * 20}" fill="${colors[i % 3]}" font-size="13">${s.label}</text>`
  }).join('\n')
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => {
    const v = maxY * f
    return `<line x1="${L}" x2="${W - R}" y1="${y(v)}" y2="${y(v)}" stroke="#eee"/><text x="${L - 6}" y="${y(v) + 4}" font-size="11" text-anchor="end">${num(v)}</text>`
  }).join('\n')
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="${L}" y="18" font-size="14">Server RSS growth (MiB) while slow consumers do not read</text>
${ticks}
<line x1="${L}" x2="${W - R}" y1="${H - B}" y2="${H - B}" stroke="#333"/>
<line x1="${L}" x2="${L}" y1="${T}" y2="${H - B}" stroke="#333"/>
<text x="${(L + W - R) / 2}" y="${H - 8}" font-size="12" text-anchor="middle">seconds since the clients stopped reading (0–${num(maxT, 1)})</text>
${lines}
</svg>
`
}

/** The scenarios in the order of their sections (section n is SECTIONS[n - 1]). */
const SECTIONS = ['throughput', 'latency', 'slowConsumers', 'idleConnections', 'bridge', 'resume', 'redis']

/** Scenario 6: attach latency and replay throughput of protocol v2's resume. */
function resumeSection (out, r, results) {
  const z = r.sizes
  const mib = (n) => `${num(n / 2 ** 20)} MiB`
  const o = r.options.attachFinished
  out.push('## 6. Resume: attach and replay', '')
  out.push(`Protocol v2 keeps each run's frames in an in-memory log, apart from the connection that started it: a client sends \`attach {runId, after, resumeToken?}\` and gets an \`attached\` frame, then every frame with seq > after from the log (the replay), then the live ones. Measured on the plugin server with the in-process JS runner (chunks as fast as it can), v2 clients, on ${r.date.slice(0, 10)}${r.build ? `, commit ${r.build.commit}${r.build.libChanged ? ' with uncommitted changes in lib/' : ''}` : ''}${results.repetitions > 1 ? `, ${results.repetitions} servers per row` : ''}${r.loadAverage === undefined ? '' : ` (1-minute load average ${num(r.loadAverage.before, 2)} before, ${num(r.loadAverage.after, 2)} after: the machine's other work)`}.`, '')
  const d = r.defaults
  let defaults = ''
  if (d?.answer?.type === 'attached') defaults = `: measured here, an \`attach {after: -1}\` to a finished run of ${num(d.chunks)} chunks (${num(d.entries)} log entries) replayed ${num(d.replayed)} of them, from seq ${num(d.firstSeq)}`
  else if (d?.answer?.type === 'error') defaults = `: measured here, an \`attach {after: -1}\` to a finished run of ${num(d.chunks)} chunks got ${d.answer.code}${d.answer.oldestSeq === null ? '' : ` (oldest seq kept: ${num(d.answer.oldestSeq)})`}`
  const od = d?.options
  const theDefaults = od
    ? `the defaults (\`maxRunLag: { events: ${num(od.maxRunLag.events)}, bytes: ${mib(od.maxRunLag.bytes)} }\`, \`retainEvents: ${num(od.retainEvents)}\`, \`retainBytes: ${mib(od.retainBytes)}\`, \`maxWatchersPerRun: ${od.maxWatchersPerRun}\`) keep a bounded tail of a finished run's log`
    : 'the defaults keep a bounded tail of a finished run\'s log'
  out.push(`Options: ${theDefaults}${defaults}. Here the server is sized so that a run's log keeps the whole run of N chunks: \`maxRunLag: { events: N + 10, bytes: ${mib(o.maxRunLag.bytes)} }\`, \`retainEvents: N + 10\`, \`retainBytes: ${mib(o.retainBytes)}\`, \`retainAfterEnd: ${num(o.retainAfterEnd)}\` ms and \`maxWatchersPerRun: ${o.maxWatchersPerRun}\`. Every connection is authenticated as one identity (the \`authenticate\` option), which owns the runs, so \`attach\` needs no resumeToken. A run is started and read to its end by one connection, which then closes, before anyone attaches.`, '')
  out.push('No baseline: AutoGen Studio and the FastAPI sample have no resume (a run lives and dies with its WebSocket), so there is nothing to compare against in this harness.', '')

  out.push('### Attach latency', '')
  out.push(`One connection sends \`attach {after: -1}\` ${num(z.attaches)} times, one after the other (after ${num(Math.ceil(z.attaches / 4))} untimed ones): the time from sending it to receiving \`attached\`, and to receiving the first replayed frame (the run's \`started\`, seq 0). Finished run: each attach reads the whole replay, to the \`result\`, before the next. Live run: started at ${num(z.liveRate)} chunks/s (read live by its own connection) and attached to after ${num(z.liveWarmMs / 1000)} s; each attach detaches after its first frame and waits for \`detached\`.`, '')
  out.push('| run | log entries at attach | attaches | attach → `attached` p50 ms | p99 ms | attach → first replayed frame p50 ms | p99 ms |', '|---|---|---|---|---|---|---|')
  for (const a of Object.values(r.attach)) {
    const lo = med(a.logEntriesMin); const hi = med(a.logEntriesMax)
    out.push(`| ${a.label} | ${lo === hi ? num(lo) : `${num(lo)}–${num(hi)}`} | ${fig(a.samples)} | ${fig(a.attachedP50, 2)} | ${fig(a.attachedP99, 2)} | ${fig(a.firstFrameP50, 2)} | ${fig(a.firstFrameP99, 2)} |`)
  }
  out.push('', `The \`attached\` frame is written at once and the replay follows it from the sender's next flush, so the first replayed frame arrives right behind it. The server's work for an attach does not grow with the log (a reader starts at a position; nothing is copied); what these figures show is the round trip over loopback and the scheduling of the server and client processes on ${results.machine.cores} cores.`, '')

  out.push('### Replay throughput', '')
  out.push(`A finished run of N chunks; 1 or 10 connections, opened first, send \`attach {after: -1}\` at once and each reads the whole log to the \`result\`. Each row: per server, one untimed replay, then the median of ${z.replays} replays of the same run. Frames/s, chunks/s and MB/s (WebSocket payloads, the frames' JSON, 10⁶ bytes) are summed over the clients, from the first \`attach\` to the last client's \`result\`; server CPU per replayed chunk over all clients. Memory: the log's bytes (frames' JSON, \`fastify.autogenStream.logBytes\`), and the server's growth from before the run to after it, both after a full GC, with only the finished run held; then RSS growth at the peak of the replays. All clients run in the one load-generator process, which parses every frame.`, '')
  out.push('| chunks | clients | frames/s | chunks/s | MB/s | seconds | chunks per token frame | server CPU µs/chunk | server CPU busy | log MiB | held: heap and buffers MiB | held: RSS MiB | RSS peak during replays MiB | all delivered, seq rule held |', '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|')
  const perChunk = []
  const mergedSizes = new Set()
  const plainSizes = new Set()
  for (const [tokens, row] of Object.entries(r.replay)) {
    for (const [clients, x] of Object.entries(row)) {
      const busy = med(x.serverBusy) ?? (med(x.serverCpuUsPerChunk) * med(x.chunksPerS)) / 1e6
      if (med(x.chunksPerTokenFrame) > 1.001 || med(x.maxChunksPerFrame) > 1) mergedSizes.add(num(Number(tokens)))
      else plainSizes.add(num(Number(tokens)))
      perChunk.push((med(x.heldHeapMiB) * 2 ** 20) / Number(tokens))
      out.push(`| ${num(Number(tokens))} | ${clients} | ${fig(x.framesPerS)} | ${fig(x.chunksPerS)} | ${fig(x.mbPerS, 1)} | ${fig(x.seconds, 3)} | ${fig(x.chunksPerTokenFrame, 2)} (max ${fig(x.maxChunksPerFrame)}) | ${fig(x.serverCpuUsPerChunk, 2)} | ${num(100 * busy)}% | ${fig(x.logMiB, 1)} | ${fig(x.heldHeapMiB, 1)} | ${fig(x.heldRssMiB, 1)} | ${fig(x.replayPeakRssMiB, 1)} | ${med(x.complete) === 1 && med(x.seqErrors) === 0 ? 'yes' : '**no**'} |`)
    }
  }
  const list = (set) => [...set].join(' and ')
  out.push('')
  out.push(`"Server CPU busy" is the server's CPU time over the replays' wall time: near 100%, the server was the limit; well under it, the clients were (all in one load-generator process, on the same ${results.machine.cores} cores as the server). ` +
    (mergedSizes.size > 0
      ? `Replays of ${list(mergedSizes)} chunks went out in fewer frames than chunks: the sender merges consecutive chunks of one message into one \`token\` frame (up to ${fig(Math.max(...Object.values(r.replay).flatMap((row) => Object.values(row).map((x) => med(x.maxChunksPerFrame)))))} chunks per frame here: a frame never spans two messages, and the synthetic runner starts a new message every 1,024 chunks) once its socket has been congested (more than maxBufferedBytes unsent: the client fell behind), and then keeps merging until it has caught up with the log, that is, for the rest of the replay; each reader's merged frames are encoded for it alone. ${plainSizes.size > 0 ? `Replays of ${list(plainSizes)} chunks went out one frame per chunk: they never congested the socket (over loopback the kernel's buffers took them whole). ` : ''}The seq rule (\`seq - chunks\` is the previous seq) held in every replay.`
      : 'Every replayed chunk went out as its own frame: the sender merges chunks only after its socket has been congested (more than maxBufferedBytes unsent), and over loopback the kernel took the frames as fast as these clients read them. A client that reads slower than the server writes gets the rest of its replay merged (the sender merges until it has caught up with the log).') +
    ` A finished run held in memory cost about ${num(Math.min(...perChunk))}–${num(Math.max(...perChunk))} bytes of heap and buffers per chunk (its frame object and its encoded JSON, kept side by side), against ${num(med(Object.values(Object.values(r.replay)[0])[0].logMiB) * 2 ** 20 / Number(Object.keys(r.replay)[0]))} bytes of JSON: the log's \`logBytes\` counts only the JSON, and retainBytes bounds only that.`, '')
}

/**
 * Scenario 7: the scale-out mode (docs/redis.md) against the in-process
 * bridge, measured in the same run. `machine` is the run's that measured it;
 * `quickFile`: this report is made from quick.json. A quick run's figures
 * in latest.json were copied there from quick.json (which git ignores), and
 * the section says so.
 */
function redisSection (out, n, r, machine, quickFile) {
  const where = quickFile || !r.quick
    ? `\`benchmarks/results/${quickFile ? 'quick' : 'latest'}.json\``
    : '`benchmarks/results/quick.json`, which git ignores; its figures were then copied into `benchmarks/results/latest.json`, which this page is generated from'
  const z = r.setup
  const kib = (bytes) => num(bytes / 1024, 1)
  const o = z.gatewayOptions
  const IN = Object.keys(Object.values(r.runs)[0])[0]
  const RD = Object.keys(Object.values(r.runs)[0])[1]
  out.push(`## ${n}. Scale-out through Redis: gateways and worker hosts`, '')
  out.push(`Measured by \`node benchmarks/run.js${r.quick ? ' --quick' : ''} --only=redis --merge\` (${where}) on ${r.date.slice(0, 10)}${r.build ? `, commit ${r.build.commit}${r.build.libChanged ? ' with uncommitted changes in lib/' : ''}` : ''}: ${machine.cores} cores (${machine.cpu}), Node ${machine.node}, Python ${machine.python}, redis-server ${z.redisServer ?? 'n/a'} (Debian's), ${r.repetitions} repetition${r.repetitions > 1 ? 's' : ''} per row${r.loadAverage?.after === undefined ? '' : `; 1-minute load average ${num(r.loadAverage.before, 2)} before, ${num(r.loadAverage.after, 2)} after (other work on the machine shows here)`}. Every process is on the same ${machine.cores} cores, over 127.0.0.1:`, '')
  out.push(`- **Redis**: 1 redis-server (\`--save '' --appendonly no\`, a new one, empty, for every row and measurement), 1 gateway (Node: Fastify with the plugin and \`runs: redisRuns({ url })\`, benchmarks/servers/redis-gateway.js), 2 worker hosts (\`python -m autogen_stream_bridge.redis_host --factory ${z.factory} --concurrency C\`). C is set to half the concurrent runs (${Object.entries(z.hostConcurrency).map(([runs, c]) => `${c} at ${runs} run${runs === '1' ? '' : 's'}`).join(', ')}): each host takes at most C, so each runs half of them.`)
  out.push(`- **in-process bridge**: 1 plugin server (benchmarks/servers/plugin.js) with \`pythonRunner({ factory: '${z.factory}', workers: 2 })\`: the same 2 Python processes, the same factory; the pool sends each run to the least loaded worker, so each also runs half.`)
  out.push(`- Both: the same options otherwise (connection limits off; \`maxRunLag: { events: ${num(o?.maxRunLag?.events)}, bytes: ${num((o?.maxRunLag?.bytes ?? 0) / 2 ** 20)} MiB }\`, \`retainEvents: ${num(o?.retainEvents)}\`, \`retainAfterEnd: ${num(o?.retainAfterEnd)}\` ms: the defaults), redisRuns' defaults (read window ${z.redisRunsDefaults.readWindow} frames, heartbeat ${num(z.redisRunsDefaults.heartbeatMs)} ms, readerTtl ${num(z.redisRunsDefaults.readerTtlMs)} ms) and the hosts' (heartbeat ${num(z.hostDefaults.heartbeatMs)} ms, TTL ${num(z.hostDefaults.heartbeatTtlMs)} ms). Clients speak protocol v1 (the \`frames\` flavour of benchmarks/load.js), except in the failover test (v2, for attach). Each server (or stack) is new for each repetition and first streams an untimed round of the same number of runs (at least 2) of ${num(z.warmWords)} words, so that both Python processes are warm.`, '')

  out.push('### Throughput, time to first token, run duration', '')
  out.push(`N clients each start one run at once: AutoGen's ReplayChatCompletionClient answering ${num(z.words)} words (one chunk each). Tokens/s: all chunks delivered over the time from the first start to the last run's end. Time to first token: from a client's \`start\` to its first token; run duration: from its \`start\` to its \`result\` (percentiles over the N runs). CPU: the server-side processes' CPU time (Node: the gateway or the plugin server; Python: the 2 hosts or the 2 workers; redis-server) per delivered token, from /proc, in clock ticks of 10 ms.`, '')
  out.push('| concurrent runs | setup | tokens/s | first token p50 ms | p99 ms | run duration p50 ms | p99 ms | CPU µs/token: all | Node | Python | redis-server | all delivered |', '|---|---|---|---|---|---|---|---|---|---|---|---|')
  const ratios = []
  for (const [runs, row] of Object.entries(r.runs)) {
    for (const [label, x] of Object.entries(row)) {
      const setup = label === RD ? `${label}, hosts × ${z.hostConcurrency[runs]}` : label
      out.push(`| ${runs} | ${setup} | ${fig(x.tokensPerS)} | ${fig(x.ttftP50, 1)} | ${fig(x.ttftP99, 1)} | ${fig(x.runP50)} | ${fig(x.runP99)} | ${fig(x.cpuUsPerToken, 1)} | ${fig(x.nodeCpuUsPerToken, 1)} | ${fig(x.pythonCpuUsPerToken, 1)} | ${x.redisCpuUsPerToken === null || x.redisCpuUsPerToken === undefined ? '–' : fig(x.redisCpuUsPerToken, 1)} | ${med(x.complete) === 1 ? 'yes' : '**no**'} |`)
    }
    ratios.push(`${num(100 * med(row[RD].tokensPerS) / med(row[IN].tokensPerS))}% at ${runs}`)
  }
  out.push('', `Through Redis, tokens/s as a share of the in-process bridge's: ${ratios.join(', ')}. ${r.quick ? `These are quick-run figures: ${num(z.words)} words per run make a single run last tens of milliseconds, where scheduling noise and the 10 ms CPU ticks weigh heavily; the 1-run rows are indicative only.` : ''}`, '')

  const h = r.held
  const f = r.finished
  out.push('### Redis memory per run', '')
  out.push(`**Active runs** (${num(z.hold.runs)} runs of ${num(z.hold.words)} words, 2 hosts × ${z.hold.hostConcurrency}): each client sends \`start\` and stops reading at once (its socket paused). The gateway writes until the socket's kernel buffers are full, then its reader stops committing, and the host stops pulling AutoGen at maxRunLag.events past that position. Measured once every run was running and no log had moved for 2 s (${h.held === 1 ? `after ${num(h.heldAfterS, 1)} s` : '**not reached within 120 s: measured then**'}; the stalled sockets had taken ${fig(h.readerPosition)} frames each by then). The log's head was ${h.lagMin === h.lagMax ? num(h.lagMin) : `${num(h.lagMin)}–${num(h.lagMax)}`} entries past the reader's committed position (maxRunLag.events: ${num(o?.maxRunLag?.events)}).`, '')
  out.push(`**Finished runs** (${num(z.finished.runs)} runs of ${num(z.finished.words)} words, read to the end by their clients, 2 hosts × ${z.finished.hostConcurrency}): measured 1.5 s after the last \`result\`, while the keys wait out retainAfterEnd (the logs' PTTL was ${fig(f.logPttlMs)} ms; ${f.ended} of ${f.runs} runs \`ended\`).`, '')
  out.push('Figures per run: the growth of Redis\'s `used_memory` (INFO memory) from before the runs, divided by the runs; the same for `used_memory_dataset` (keys and values only); and the sum of `MEMORY USAGE <key> SAMPLES 0` over every key of the runs (docs/redis.md, "Keys") divided by the runs.', '')
  out.push('| runs | per run: used_memory KiB | dataset KiB | keys KiB | log KiB | log entries | log bytes per entry | ctl KiB | other keys KiB | Redis connections added |', '|---|---|---|---|---|---|---|---|---|---|')
  for (const [label, x] of [[`active, held at maxRunLag (${num(h.runs)})`, h], [`finished, within retainAfterEnd (${num(f.runs)})`, f]]) {
    const k = x.keyBytesPerRunByKind
    const other = x.keysBytesPerRun - k.log - k.ctl
    out.push(`| ${label} | ${kib(x.usedMemoryDeltaPerRun)} | ${kib(x.datasetDeltaPerRun)} | ${kib(x.keysBytesPerRun)} | ${kib(k.log)} | ${fig(x.logEntries)} | ${num(x.logBytesPerEntry)} | ${kib(k.ctl)} | ${kib(other)} | ${num(x.clientsDelta)} |`)
  }
  out.push('', `An active run's log keeps retainEvents (${num(o?.retainEvents)}) entries below the slowest reader's position plus the maxRunLag.events above it: ${num(med(h.logEntries))} entries. Each token frame is one stream entry (\`{"type":"token",…,"chunks":1}\`: the host never merges chunks in the log). A finished run keeps what its last trim left (${fig(f.logEntries)} entries); its last two frames, the final message and the \`result\`, each carry the whole answer (${kib(med(f.lastFramesBytes))} KiB together here), so a finished run's log grows with the length of its answer. \`ctl\` is the run's control stream, mostly the gateways' \`ack\`s (capped at ~1,000 entries). "Other keys" are meta, readers, alive, far and the lookups (owner, owned, token). The difference between used_memory and the dataset is mostly the client connections: the gateway holds one Redis connection per run it reads (the tail loop's blocking XREAD), and keeps at most 4 of them idle once their runs have ended: ${num(h.clientsDelta)} more connections with ${num(h.runs)} held runs, ${num(f.clientsDelta)} after ${num(f.runs)} finished ones.`, '')

  const fo = r.failover
  out.push('### A gateway killed mid-run: resuming on another', '')
  out.push(`Two gateways on one Redis, 2 hosts × 1. A v2 client opens a connection to gateway B, then starts a run of ${num(z.failover.words)} words on gateway A and reads it live; after ${num(z.failover.killAfterChunks)} chunks the orchestrator sends SIGKILL to A's process. When A's connection closes, the client sends \`attach {runId, after: <its last seq>, resumeToken}\` on B at once (B's connection was open already: no reconnect delay is counted) and reads the run to its \`result\`. ${fo.trials.length} trials, a new gateway A each; median (min–max), all times on the machine's monotonic clock.`, '')
  out.push('| trials | kill → A\'s connection closed ms | attach → `attached` ms | attach → first replayed frame ms | kill → first frame on B ms | host ahead of the client at attach (entries) | longest gap between frames on B ms | kill → end of that gap ms | kill → `result` ms | every chunk once, in order |', '|---|---|---|---|---|---|---|---|---|---|')
  out.push(`| ${fo.trials.length} | ${fig(fo.killToClosedMs, 1)} | ${fig(fo.attachToAttachedMs, 2)} | ${fig(fo.attachToFirstFrameMs, 2)} | ${fig(fo.killToFirstFrameMs, 1)} | ${fig(fo.headAheadAtAttach)} | ${fig(fo.maxGapMs)} | ${fig(fo.killToMaxGapEndMs)} | ${fig(fo.killToEndMs)} | ${fo.complete === 1 ? 'yes' : '**no**'} |`)
  out.push('', `The attach itself is fast: B finds the run by its token, replays the log from the client's position and then follows the head (at attach, the log's head was ${fig(fo.headAheadAtAttach)} entries past the client's last seq: the host had gone on up to maxRunLag.events past A's last committed position). The dead gateway's reader stays in the run's \`alive\` set, but a host counts a gateway's readers only while that gateway's heartbeat key lives (3 × its heartbeat, ${num(3 * z.redisRunsDefaults.heartbeatMs)} ms): after at most that, the host goes on at B's client's pace. The longest gap above is that wait, when the client caught up with the host before A's key expired.`, '')
}

export function writeReport (results, root) {
  const s = results.scenarios
  const m = results.machine
  const out = []
  const headline = []
  out.push('# Benchmarks', '')
  out.push(`Generated by \`npm run bench\` (benchmarks/run.js) from \`benchmarks/results/${results.quick ? 'quick' : 'latest'}.json\`; do not edit by hand.`)
  // With --merge, scenarios kept from earlier runs say which run (machine, date) measured them.
  const machineLine = (x) => `${x.cores} cores (${x.cpu}), ${x.memoryGiB} GiB, Node ${x.node}, Python ${x.python}, ${x.date.slice(0, 10)}`
  const groups = new Map()
  for (const name of SECTIONS.filter((n) => s[n] !== undefined)) {
    const line = machineLine(results.measuredOn?.[name] ?? m)
    groups.set(line, [...(groups.get(line) ?? []), name])
  }
  if (groups.size <= 1) {
    out.push(`Machine: ${machineLine(m)}.`)
  } else {
    const which = (names) => `${names.length > 1 ? 'scenarios' : 'scenario'} ${names.map((n) => SECTIONS.indexOf(n) + 1).join(', ')}`
    out.push(`Scenarios measured by different runs (\`--only\` with \`--merge\` keeps the figures of the others): ${[...groups].map(([line, names]) => `${which(names)} on ${line}`).join('; ')}. Figures of different runs may come from different hardware: compare within a scenario.`)
  }
  out.push(`Each figure is the median of ${results.repetitions} repetition(s) (slow consumers: 2 for the plugin, 1 for the naive baseline), with min–max in parentheses. Servers, the load generator and Python run as separate processes on the same ${m.cores} cores, over 127.0.0.1.`, '')
  out.push('Baselines, in the same run: **raw ws** (a bare `ws` server sending one token frame per chunk as fast as it can: the ceiling for one frame per token), **naive @fastify/websocket** (`socket.send()` of every AutoGen event, verbatim, never waiting: what tutorials and AutoGen Studio-style code do), and for the bridge **AutoGen in-process** (the team consumed in Python with nothing attached) and **FastAPI + uvicorn** awaiting `send_json` per event (the AutoGen Studio / FastAPI sample pattern).', '')

  if (s.throughput) {
    out.push('## 1. Saturation throughput', '', 'An in-process JS runner yields chunks as fast as it can; one stream per connection. Tokens/s and frames/s as the clients receive them; server CPU per delivered token.', '')
    out.push('| streams | server | tokens/s | frames/s | server CPU µs/token | all delivered |', '|---|---|---|---|---|---|')
    for (const [streams, row] of Object.entries(s.throughput)) {
      for (const [label, r] of Object.entries(row)) {
        out.push(`| ${streams} | ${label} | ${fig(r.tokensPerS)} | ${fig(r.framesPerS)} | ${fig(r.cpuUsPerToken, 2)} | ${med(r.complete) === 1 ? 'yes' : 'no'} |`)
      }
    }
    out.push('')
    const goals = []
    for (const [streams, row] of Object.entries(s.throughput)) {
      const raw = med(row['raw ws (1 frame/token)']?.tokensPerS)
      const rawFrames = med(row['raw ws (1 frame/token)']?.framesPerS)
      const plugin = med(row.plugin?.tokensPerS)
      const nc = med(row['plugin, coalesceTokens: false']?.framesPerS)
      if (Number(streams) >= 100) goals.push(`| ${streams} | tokens/s ≥ 1.5× raw ws | ${num(plugin / raw, 2)}× | ${verdict(plugin / raw >= 1.5)} |`)
      goals.push(`| ${streams} | frames/s (no coalescing) ≥ 80% of raw ws | ${num((100 * nc) / rawFrames)}% | ${verdict(nc / rawFrames >= 0.8)} |`)
      if (Number(streams) === 100) headline.push(`| throughput, 100 streams | ${num(plugin)} tokens/s | raw ws ${num(raw)} tokens/s (${num(plugin / raw, 2)}×) |`)
    }
    out.push('| streams | goal | measured | |', '|---|---|---|---|', ...goals, '')
  }

  if (s.latency) {
    out.push('## 2. Paced latency', '', `${results.sizes.pacedStreams} streams at 20 tokens/s each for ${results.sizes.pacedSeconds} s: from the runner yielding a chunk (timestamp inside the chunk) to the client receiving it.`, '')
    out.push('| server | p50 ms | p99 ms | p99.9 ms | samples |', '|---|---|---|---|---|')
    for (const [label, r] of Object.entries(s.latency)) out.push(`| ${label} | ${fig(r.p50, 2)} | ${fig(r.p99, 2)} | ${fig(r.p999, 2)} | ${fig(r.samples)} |`)
    const raw = med(s.latency['raw ws (1 frame/token)']?.p99)
    const plugin = med(s.latency.plugin?.p99)
    out.push('', `Goal: plugin p99 within 5 ms of raw ws: ${signed(plugin - raw, 2)} ms, ${verdict(plugin - raw <= 5)}.`, '')
    headline.push(`| p99 latency, ${results.sizes.pacedStreams} streams × 20 tokens/s | ${num(plugin, 2)} ms | raw ws ${num(raw, 2)} ms |`)
  }

  if (s.slowConsumers) {
    out.push('## 3. Slow consumers', '', `${results.sizes.slowClients} clients start a run of ${num(results.sizes.slowTokens)} chunks and stop reading at once (\`ws.pause()\`) for ${results.sizes.slowSeconds} s while their runners produce at full speed; then the plugin's clients read everything, the naive server's clients are cut (draining what it buffered would take minutes).`, '')
    out.push('![Server RSS over time under slow consumers](benchmarks-slow-consumers.svg)', '')
    out.push('| server | peak RSS growth MiB | RSS growth after a full GC, end of stall, MiB | of which live JS heap and buffers, MiB | runners held from (s) | RSS change after that, MiB | events pulled per run (max) | bytes buffered in user space at resume | delivered after resume |', '|---|---|---|---|---|---|---|---|---|')
    for (const [label, r] of Object.entries(s.slowConsumers)) {
      const held = afterHeld(r.timeline)
      out.push(`| ${label} | ${fig(r.peakGrowthMiB, 1)} | ${fig(r.retainedAfterGcMiB, 1)} | ${fig(r.liveHeapAfterGcMiB, 1)} | ${num(held.from, 1)} | ${num(held.change, 1)} | ${fig(r.pulledPerRunMax)} of ${num(results.sizes.slowTokens)} | ${num(r.bufferedBytesAtResume)} | ${r.allDelivered === null ? 'not read (cut)' : `${num(r.delivered)} of ${num(r.expected)}`} |`)
    }
    const p = s.slowConsumers.plugin
    out.push('', `Goal: flat memory once the kernel buffers are full, growth under 64 MiB in all, bounded events per run, everything delivered. Flat: ${num(afterHeld(p?.timeline).change, 1)} MiB of change after the runners were held (${afterHeld(p?.timeline).samples} samples, from ${num(afterHeld(p?.timeline).from, 1)} s to the end of the stall; filling 200 connections' kernel buffers takes most of the stall on this machine, see the chart); bounded and delivered: yes; growth: ${num(med(p?.peakGrowthMiB), 1)} MiB at the peak, ${num(med(p?.retainedAfterGcMiB), 1)} MiB after a full GC (live JS heap and buffers: ${num(med(p?.liveHeapAfterGcMiB), 1)} MiB; the rest is memory V8 and the allocator keep from the fill phase), ${verdict(med(p?.peakGrowthMiB) < 64 && p?.allDelivered === 1)}. Of the live figure, ${num((p?.bufferedBytesAtResume ?? 0) / 2 ** 20, 1)} MiB are the bytes waiting in user space (at most maxBufferedBytes plus one frame per connection); the rest is the runs' buffered events (at most highWaterMark each) and the per-connection state of ws and the plugin, held while ${results.sizes.slowClients} runs are open.`, '')
    const chartSvg = chart(s.slowConsumers)
    if (chartSvg !== null) writeFileSync(join(root, 'docs', 'benchmarks-slow-consumers.svg'), chartSvg)
    headline.push(`| RSS growth, ${results.sizes.slowClients} stalled clients, ${results.sizes.slowSeconds} s | ${num(med(p?.peakGrowthMiB), 1)} MiB, all delivered after | naive ${num(med(s.slowConsumers['naive @fastify/websocket']?.peakGrowthMiB), 1)} MiB |`)
  }

  if (s.idleConnections) {
    out.push('## 4. Idle connections', '', `${num(results.sizes.idle)} open connections, no runs: server RSS growth per connection (after GC).`, '')
    out.push('| server | KiB per connection |', '|---|---|')
    for (const [label, r] of Object.entries(s.idleConnections)) out.push(`| ${label} | ${fig(r.kibPerConnection, 1)} |`)
    const p = med(s.idleConnections.plugin?.kibPerConnection)
    out.push('', `Goal: under 16 KiB per connection: ${num(p, 1)} KiB, ${verdict(p < 16)}.`, '')
    headline.push(`| idle connection cost | ${num(p, 1)} KiB | raw ws ${num(med(s.idleConnections['raw ws']?.kibPerConnection), 1)} KiB |`)
  }

  if (s.bridge && !s.bridge.skipped) {
    out.push('## 5. Through the Python bridge, real AutoGen', '', `A streaming AssistantAgent on AutoGen's ReplayChatCompletionClient answering ${num(results.sizes.bridgeWords)} words (one chunk each), per run; the plugin on the default pool (2 workers). Time to first token: from the client's start to its first token (in-process: from calling run_stream to the first chunk). CPU: all server-side processes (Node and workers) per delivered token.`, '')
    out.push('| concurrent runs | server | tokens/s | time to first token ms | CPU µs/token | all delivered |', '|---|---|---|---|---|---|')
    for (const [runs, row] of Object.entries(s.bridge.runs)) {
      for (const [label, r] of Object.entries(row)) out.push(`| ${runs} | ${label} | ${fig(r.tokensPerS)} | ${fig(r.ttftMs, 2)} | ${fig(r.cpuUsPerToken, 1)} | ${r.complete === undefined ? '' : med(r.complete) === 1 ? 'yes' : 'no'} |`)
    }
    const goals = []
    for (const [runs, row] of Object.entries(s.bridge.runs)) {
      const ceil = row['AutoGen in-process (ceiling)']; const p = row.plugin; const f = row['FastAPI + uvicorn, await send_json per event']
      goals.push(`| ${runs} | ≥ 50% of in-process tokens/s | ${num((100 * med(p.tokensPerS)) / med(ceil.tokensPerS))}% | ${verdict(med(p.tokensPerS) >= 0.5 * med(ceil.tokensPerS))} |`)
      goals.push(`| ${runs} | time to first token within 5 ms of in-process | ${signed(med(p.ttftMs) - med(ceil.ttftMs), 2)} ms | ${verdict(med(p.ttftMs) - med(ceil.ttftMs) <= 5)} |`)
      goals.push(`| ${runs} | ahead of FastAPI in tokens/s | ${num(med(p.tokensPerS) / med(f.tokensPerS), 2)}× | ${verdict(med(p.tokensPerS) > med(f.tokensPerS))} |`)
      if (Number(runs) === 50) headline.push(`| bridge, 50 concurrent AutoGen runs | ${num(med(p.tokensPerS))} tokens/s | FastAPI ${num(med(f.tokensPerS))}, AutoGen alone ${num(med(ceil.tokensPerS))} |`)
    }
    out.push('', '| runs | goal | measured | |', '|---|---|---|---|', ...goals, '')
    out.push('AutoGen in-process does not interleave concurrent runs of the replay client (its stream never suspends), so its time to first token grows with the number of runs: each run waits for the ones before it. Through the plugin, runs interleave (each worker yields every 64 items and two workers run in parallel). The single-run figure is where the bridge falls short: one run crosses three processes (worker, server, client) on two cores, and the worker and Node each spend CPU per token that AutoGen alone does not; FastAPI has one process fewer.', '')
    const st = s.bridge.stalled
    out.push(`Stalled clients: ${st.runs} runs of 200,000 words whose clients do not read. Worker RSS (both workers) started at ${num(st.workersRssStartMiB, 1)} MiB and moved by ${num(st.workersRssGrowthSecondHalfMiB, 1)} MiB over the second half of the stall (goal: flat).`, '')
  }

  if (s.resume) resumeSection(out, s.resume, results)
  let next = s.resume ? 7 : 6
  const redisN = next
  const redis = s.redis !== undefined && s.redis.skipped === undefined
  if (redis) redisSection(out, next++, s.redis, results.measuredOn?.redis ?? m, results.quick)

  out.push(`## ${next}. Cost per token`, '', `Server CPU microseconds per delivered token are in the tables of scenarios 1 and 5${redis ? ` (and ${redisN}, for the Redis scale-out mode)` : ''}.`, '')
  const notes = join(root, 'benchmarks', 'profile-notes.md')
  if (existsSync(notes)) out.push(readFileSync(notes, 'utf8'))

  writeFileSync(join(root, 'docs', 'benchmarks.md'), out.join('\n') + '\n')

  const readme = join(root, 'README.md')
  const text = readFileSync(readme, 'utf8')
  const table = ['<!-- bench:start -->', '| figure | plugin | baseline |', '|---|---|---|', ...headline, '<!-- bench:end -->'].join('\n')
  if (text.includes('<!-- bench:start -->')) {
    writeFileSync(readme, text.replace(/<!-- bench:start -->[\s\S]*<!-- bench:end -->/, table))
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const here = dirname(fileURLToPath(import.meta.url))
  const file = process.argv[2] ?? join(here, 'results', 'latest.json')
  writeReport(JSON.parse(readFileSync(file, 'utf8')), join(here, '..'))
}
