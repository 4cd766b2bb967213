// Regenerates docs/benchmarks.md, its charts (docs/benchmarks-*.svg) and the
// README's headline table from a results file:
//
//   node benchmarks/report.js                          # from benchmarks/results/latest.json, into docs/ and README.md
//   node benchmarks/report.js --from=<file> --out=<dir>   # any results file (quick.json, ...), into <dir>:
//                                                      # benchmarks.md, the charts, and README.md with its headline
//
// Every scenario of a results file records the run that measured it
// (results.measuredOn: commit, --merge or not). The page stamps the full
// run's commit at the top and labels scenarios merged later; the README's
// headline is made from the full run's scenarios only.
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { barChart, lineChart } from './charts.js'

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
const ratio = (a, b) => (Number.isFinite(a) && Number.isFinite(b) && b !== 0 ? a / b : NaN)
const times = (r) => (Number.isFinite(r) ? `${num(r, 2)}×` : 'n/a')
const pct = (r, digits = 0) => (Number.isFinite(r) ? `${num(100 * r, digits)}%` : 'n/a')
const bar = (f) => (f === null || f === undefined ? null : { value: med(f), min: f.min, max: f.max })

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

// The servers' labels, as benchmarks/run.js writes them.
const RAW = 'raw ws (1 frame/token)'
const CORKED = 'raw ws, corked per batch (1 frame/token)'
const NAIVE = 'naive @fastify/websocket'
const PLUGIN = 'plugin'

/** The bridge rows, whatever the run called them (older files: 'plugin', 'FastAPI + uvicorn, await send_json per event'). */
function bridgeRows (row) {
  const keys = Object.keys(row)
  const find = (test) => { const k = keys.find(test); return k === undefined ? { label: null, r: undefined } : { label: k, r: row[k] } }
  return {
    inproc: find((k) => k.startsWith('AutoGen in-process')),
    plugin: find((k) => k === 'plugin' || k.startsWith('plugin')),
    fastapi: find((k) => k.startsWith('FastAPI'))
  }
}

/** The scenarios in the order of their sections. */
const SECTIONS = ['throughput', 'latency', 'slowConsumers', 'idleConnections', 'bridge', 'resume', 'redis']
const SHORT = { throughput: 'throughput', latency: 'latency', slowConsumers: 'slow consumers', idleConnections: 'idle connections', bridge: 'the Python bridge', resume: 'resume', redis: 'the Redis scale-out' }
const TITLES = { throughput: 'Saturation throughput', latency: 'Paced latency', slowConsumers: 'Slow consumers', idleConnections: 'Idle connections', bridge: 'Through the Python bridge, real AutoGen', resume: 'Resume: attach and replay', redis: 'Scale-out through Redis: gateways and worker hosts' }

/**
 * Results files written before runs recorded their commit: the run that
 * measured most of its scenarios is taken as its full run (its commit from
 * a scenario's `build`, when one has it), the others as merged. (Such files
 * carry the last run's machine and date at the top, merged or not.)
 */
export function normalizeResults (results) {
  if (results.fullRun !== undefined) return results
  const names = Object.keys(results.scenarios ?? {})
  const dates = names.map((n) => results.measuredOn?.[n]?.date ?? results.machine?.date)
  const count = (d) => dates.filter((x) => x === d).length
  const date = [...new Set(dates)].sort((a, b) => count(b) - count(a) || a.localeCompare(b))[0] ?? results.machine?.date
  const buildLabel = (b) => (b ? `${b.commit}${b.dirty ?? b.libChanged ? '-dirty' : ''}` : null)
  const baseNames = names.filter((n) => (results.measuredOn?.[n]?.date ?? date) === date)
  const baseCommit = baseNames.map((n) => buildLabel(results.scenarios[n]?.build)).find((c) => c !== null) ?? 'unknown'
  const measuredOn = {}
  for (const name of names) {
    const m = results.measuredOn?.[name] ?? results.machine
    const merged = (m.date ?? date) !== date
    measuredOn[name] = { ...m, runId: m.date ?? date, commit: buildLabel(results.scenarios[name]?.build) ?? (merged ? 'unknown' : baseCommit), merge: merged, quick: results.scenarios[name]?.quick ?? results.quick, repetitions: results.scenarios[name]?.repetitions ?? results.repetitions, ...(merged ? {} : { sizes: results.sizes }) }
  }
  const fullRun = { id: date, commit: baseCommit, dirty: null, merge: false, quick: results.quick, repetitions: results.repetitions, only: null, date, legacy: true }
  return { ...results, measuredOn, fullRun, runs: [fullRun] }
}

/** What the report needs to know of the run that measured a scenario. */
function provenance (results, name) {
  const m = results.measuredOn?.[name] ?? {}
  const full = results.fullRun
  const inFullRun = full !== null && full !== undefined && m.runId === full.id
  return {
    inFullRun,
    commit: m.commit ?? 'unknown',
    date: (m.date ?? results.machine.date).slice(0, 10),
    quick: m.quick ?? results.quick,
    repetitions: m.repetitions ?? results.repetitions,
    sizes: m.sizes ?? results.sizes
  }
}

/** The line under a section's title when it is not from the full run, or from a quick one. */
function sectionNote (results, name) {
  const p = provenance(results, name)
  const notes = []
  if (!p.inFullRun) notes.push(`*Measured by \`--merge\` on ${p.commit}, ${p.date}: not part of the full run${results.fullRun ? ` (${results.fullRun.commit})` : ''}.*`)
  if (p.quick) notes.push(`*A quick run (\`--quick\`): smaller sizes, ${p.repetitions} repetition${p.repetitions > 1 ? 's' : ''}; indicative only.*`)
  return notes.length === 0 ? [] : [notes.join(' '), '']
}

// ----------------------------------------------------------------- sections
//
// Each writes its section into ctx.out, its chart into ctx.charts (file name
// → SVG), its goals into ctx.goals (the summary table at the top) and its
// figures for the README into ctx.headline (used only when the scenario is
// from the full run).

function chartLink (ctx, file, svgText, alt) {
  if (svgText === null) return
  ctx.charts.set(file, svgText)
  ctx.out.push(`![${alt}](${file})`, '')
}

function throughputSection (ctx, n, t) {
  const { out } = ctx
  const z = provenance(ctx.results, 'throughput').sizes
  out.push(`## ${n}. ${TITLES.throughput}`, '', ...sectionNote(ctx.results, 'throughput'))
  const labels = [...new Set(Object.values(t).flatMap((row) => Object.keys(row)))]
  const streams = Object.keys(t)
  chartLink(ctx, 'benchmarks-throughput.svg', barChart({
    id: 'throughput',
    title: 'Saturation throughput: tokens/s delivered, by concurrent streams',
    desc: `Tokens per second the clients received, median of the repetitions with min–max whiskers, for ${labels.join('; ')}, at ${streams.join(', ')} concurrent streams.`,
    groups: streams.map((s) => ({ label: `${num(Number(s))} stream${s === '1' ? '' : 's'}`, bars: labels.map((l) => bar(t[s][l]?.tokensPerS)) })),
    series: labels,
    xLabel: 'concurrent streams (one per connection)',
    yLabel: 'tokens/s'
  }), 'Tokens/s by concurrent streams: the plugin against raw ws, corked raw ws and the naive handler')
  out.push(`An in-process JS runner yields chunks as fast as it can (${num(z.throughputTotal)} chunks in all, split over the streams); one stream per connection. Tokens/s and frames/s as the clients receive them; server CPU per delivered token. The two raw ws baselines send the plugin's own token frame, one per chunk, and never wait for the socket: **raw ws** calls \`ws.send()\` per chunk, and ws writes each frame with its own system call; **corked raw ws** corks the socket, sends the chunks its runner has ready (up to 64, as the plugin's sender does per turn), and uncorks: one system call per batch. The ratios are the row's tokens/s over each baseline's at the same number of streams.`, '')
  out.push('| streams | server | tokens/s | frames/s | server CPU µs/token | ÷ raw ws | ÷ corked raw ws | all delivered |', '|---|---|---|---|---|---|---|---|')
  for (const [s, row] of Object.entries(t)) {
    const raw = med(row[RAW]?.tokensPerS)
    const corked = med(row[CORKED]?.tokensPerS)
    for (const [label, r] of Object.entries(row)) {
      out.push(`| ${num(Number(s))} | ${label} | ${fig(r.tokensPerS)} | ${fig(r.framesPerS)} | ${fig(r.cpuUsPerToken, 2)} | ${times(ratio(med(r.tokensPerS), raw))} | ${times(ratio(med(r.tokensPerS), corked))} | ${med(r.complete) === 1 ? 'yes' : '**no**'} |`)
    }
  }
  out.push('')
  const at = (s, label) => med(t[s]?.[label]?.tokensPerS)
  const vsCorked = ['100', '1000'].map((s) => ({ s, r: ratio(at(s, PLUGIN), at(s, CORKED)) }))
  const vsRaw = ratio(at('1000', PLUGIN), at('1000', RAW))
  const rows = []
  for (const { s, r } of vsCorked) rows.push(`| ${num(Number(s))} | tokens/s against corked raw ws ≥ 1.0× | ${times(r)} | ${verdict(Number.isFinite(r) ? r >= 1 : null)} |`)
  rows.push(`| 1,000 | tokens/s against plain raw ws ≥ 1.5× | ${times(vsRaw)} | ${verdict(Number.isFinite(vsRaw) ? vsRaw >= 1.5 : null)} |`)
  out.push('| streams | goal | measured | |', '|---|---|---|---|', ...rows, '')
  const corkedOk = vsCorked.every(({ r }) => Number.isFinite(r))
  ctx.goals.push({
    name: 'throughput',
    goal: 'tokens/s, 100 and 1,000 streams, against corked raw ws ≥ 1.0× at both',
    measured: corkedOk ? vsCorked.map(({ s, r }) => `${times(r)} at ${num(Number(s))}`).join(', ') : 'not measured (no corked raw ws rows)',
    ok: corkedOk ? vsCorked.every(({ r }) => r >= 1) : null
  })
  ctx.goals.push({ name: 'throughput', goal: 'tokens/s, 1,000 streams, against plain raw ws ≥ 1.5×', measured: times(vsRaw), ok: Number.isFinite(vsRaw) ? vsRaw >= 1.5 : null })
  for (const s of ['100', '1000']) {
    if (t[s] === undefined) continue
    if (Number.isFinite(at(s, CORKED))) ctx.headline.push({ figure: `tokens/s, ${num(Number(s))} streams`, plugin: num(at(s, PLUGIN)), baseline: `corked raw ws ${num(at(s, CORKED))}`, r: ratio(at(s, PLUGIN), at(s, CORKED)), higherIsBetter: true, of: 'tokens/s' })
    ctx.headline.push({ figure: `tokens/s, ${num(Number(s))} streams`, plugin: num(at(s, PLUGIN)), baseline: `raw ws ${num(at(s, RAW))}`, r: ratio(at(s, PLUGIN), at(s, RAW)), higherIsBetter: true, of: 'tokens/s' })
  }
}

function latencySection (ctx, n, l) {
  const { out } = ctx
  const z = provenance(ctx.results, 'latency').sizes
  out.push(`## ${n}. ${TITLES.latency}`, '', ...sectionNote(ctx.results, 'latency'))
  const labels = Object.keys(l)
  const hasDue = labels.some((k) => l[k].due !== undefined && l[k].due !== null)
  const pick = (r) => (hasDue ? r.due : r)
  chartLink(ctx, 'benchmarks-latency.svg', barChart({
    id: 'latency',
    title: `Paced latency, ${num(z.pacedStreams)} streams × 20 tokens/s: p50, p99, p99.9 ${hasDue ? 'from the time each token was due' : 'from the runner\'s yield'}`,
    desc: `Milliseconds from ${hasDue ? 'the time each chunk was due' : 'the moment the runner yielded each chunk'} to the client's receipt, at the 50th, 99th and 99.9th percentiles (medians of the repetitions), for ${labels.join('; ')}. Log scale.`,
    groups: labels.map((k) => ({ label: k.replace(' (1 frame/token)', ''), bars: ['p50', 'p99', 'p999'].map((q) => bar(pick(l[k])?.[q])) })),
    series: ['p50', 'p99', 'p99.9'],
    xLabel: 'server',
    yLabel: 'ms',
    log: true,
    unit: ' ms'
  }), 'Latency percentiles per server, log scale')
  out.push(`${num(z.pacedStreams)} streams at 20 tokens/s each for ${z.pacedSeconds} s. Each chunk carries two times of the server's clock (\`benchmarks/servers/common.js\`, chunkEvent): when it was **due** (the run's start plus i/20 s: when a model streaming at that pace would have produced it) and when the runner **yielded** it (the runner's timer ran and made the chunk). Latency is from each to the client's receipt (the load generator's \`message\` event), all on CLOCK_MONOTONIC, which every process shares.${hasDue ? ' Only the steady state counts: samples from the moment every stream has had its first token (before that, the server is still accepting connections and starting runs).' : ''}`, '')
  if (hasDue) {
    out.push('| server | from due: p50 ms | p99 ms | p99.9 ms | from yield: p50 ms | p99 ms | p99.9 ms | frames the client handled per turn | server CPU µs/token | samples |', '|---|---|---|---|---|---|---|---|---|---|')
    for (const [label, r] of Object.entries(l)) out.push(`| ${label} | ${fig(r.due?.p50, 2)} | ${fig(r.due?.p99, 2)} | ${fig(r.due?.p999, 2)} | ${fig(r.p50, 2)} | ${fig(r.p99, 2)} | ${fig(r.p999, 2)} | ${fig(r.framesPerClientTurn, 2)} | ${fig(r.serverCpuUsPerToken, 2)} | ${fig(r.samples)} |`)
  } else {
    out.push('| server | from yield: p50 ms | p99 ms | p99.9 ms | samples |', '|---|---|---|---|---|')
    for (const [label, r] of Object.entries(l)) out.push(`| ${label} | ${fig(r.p50, 2)} | ${fig(r.p99, 2)} | ${fig(r.p999, 2)} | ${fig(r.samples)} |`)
  }
  out.push('')
  const raw = l[RAW]; const p = l[PLUGIN]
  if (hasDue && raw && p) {
    out.push(...latencyExplanation(l))
    ctx.headline.push({ figure: `p99 latency from due, ${num(z.pacedStreams)} streams × 20 tokens/s`, plugin: `${num(med(p.due?.p99), 2)} ms`, baseline: `raw ws ${num(med(raw.due?.p99), 2)} ms`, r: ratio(med(p.due?.p99), med(raw.due?.p99)), higherIsBetter: false, of: 'p99' })
  } else if (raw && p) {
    out.push(`These figures are from a run that measured from the runner's yield only, which favours a server that is slow to run its runners' timers (it hides the wait before the timestamp); later runs also measure from the time each chunk was due. Plugin p99 against raw ws: ${signed(med(p.p99) - med(raw.p99), 2)} ms.`, '')
    ctx.headline.push({ figure: `p99 latency from yield, ${num(z.pacedStreams)} streams × 20 tokens/s`, plugin: `${num(med(p.p99), 2)} ms`, baseline: `raw ws ${num(med(raw.p99), 2)} ms`, r: ratio(med(p.p99), med(raw.p99)), higherIsBetter: false, of: 'p99' })
  }
}

/**
 * Why the plugin's p50 from the yield can be lower than raw ws's, with the
 * run's own evidence: the traced run (where the server spends the time
 * between the yield and the kernel, and which frames it holds) and the
 * client's turns (how many frames came in together, and what that cost).
 */
function latencyExplanation (l) {
  const raw = l[RAW]; const p = l[PLUGIN]
  const rt = raw.trace; const pt = p.trace
  const f = (r, k, d = 2) => num(med(r[k]), d)
  const lines = ['### Why the plugin can look faster than raw ws from the yield', '']
  if (rt && pt) {
    lines.push(`One more run per server with tracing on (\`BENCH_CONFIG.trace\`, servers/common.js traceSocket: for every token frame, the server notes when \`ws.send()\` was called and when the socket handed the bytes to the kernel, the end of its \`_write\`/\`_writev\`; and which frames waited more than ${num(pt.heldOverMs ?? 1)} ms between the yield and \`ws.send()\`, those whose seq is a multiple of 64 apart). Tracing costs a little per frame, so these come from their own run, not from the table above.`, '')
    lines.push(`| server | yield → \`ws.send()\` p50 ms | yield → bytes to the kernel p50 ms | p99 ms | held > ${num(pt.heldOverMs ?? 1)} ms before \`ws.send()\`: seq % 64 = 0 | other frames | client, from yield p50 ms | client, from due p50 ms | frames the client handled per turn |`, '|---|---|---|---|---|---|---|---|---|')
    for (const [label, r] of Object.entries(l)) {
      const t = r.trace
      if (!t) continue
      lines.push(`| ${label} | ${num(t.yieldToSendP50, 3)} | ${num(t.yieldToKernelP50, 3)} | ${num(t.yieldToKernelP99, 2)} | ${pct(t.heldSeqMod64Zero, 1)} | ${pct(t.heldOthers, 2)} | ${num(t.clientP50, 2)} | ${num(t.clientDueP50, 2)} | ${num(t.framesPerClientTurn, 2)} |`)
    }
    lines.push('')
  }
  const yieldLower = med(p.p50) < med(raw.p50)
  const dueHigher = med(p.due?.p50) > med(raw.due?.p50)
  const burstier = med(raw.framesPerClientTurn) > med(p.framesPerClientTurn)
  lines.push('The yield\'s timestamp is taken when the runner\'s timer callback runs. Whatever kept the server busy before that (the timers of other streams, run one after another in the same turn of its event loop, and everything else it does) is before the clock starts, and a server that spends more CPU per frame runs its timers later: from the yield, that wait is not seen; from the due time, it is. ' +
    `Here, from the yield, the plugin's p50 is ${f(p, 'p50')} ms against raw ws's ${f(raw, 'p50')} ms${yieldLower ? ' (lower)' : ''}; from the due time, ${num(med(p.due?.p50), 2)} ms against ${num(med(raw.due?.p50), 2)} ms${dueHigher ? ' (higher)' : ''}. ` +
    (rt && pt ? `The server's own part does not favour the plugin: from the yield to the bytes handed to the kernel it takes ${num(pt.yieldToKernelP50, 3)} ms at the median, raw ws ${num(rt.yieldToKernelP50, 3)} ms (both write each paced frame with one system call: a paced connection never has two frames ready). ` : '') +
    `What differs is where the frames wait. Raw ws, cheap per frame, writes the frames of a turn's timers in a quick burst, and they queue at the client, after the timestamp: the load generator handled ${f(raw, 'framesPerClientTurn')} frames per turn of its event loop from raw ws against ${f(p, 'framesPerClientTurn')} from the plugin, and a frame handled behind others in the same turn waited for them (median ${f(raw, 'laterInTurnP50')} ms from the yield for raw ws, ${f(p, 'laterInTurnP50')} ms for the plugin, against ${f(raw, 'firstInTurnP50', 3)} and ${f(p, 'firstInTurnP50', 3)} ms for the first frame of a turn; ${pct(med(raw.laterInTurnShare))} of raw ws's frames came behind another, ${pct(med(p.laterInTurnShare))} of the plugin's). ` +
    (burstier ? 'The plugin\'s slower timers spread its frames out, so they wait before the timestamp, where the yield\'s clock does not see them, instead of at the client, where it does. ' : '') +
    'The due time is the same moment for every server, so the table and the chart above lead with it.', '')
  if (pt && Number.isFinite(pt.heldSeqMod64Zero) && Number.isFinite(pt.heldOthers) && pt.heldSeqMod64Zero > 2 * pt.heldOthers && pt.heldSeqMod64Zero > 0.01) {
    lines.push(`The plugin's tail has a cause of its own in the trace: ${pct(pt.heldSeqMod64Zero, 1)} of its frames whose seq is a multiple of 64 waited more than ${num(pt.heldOverMs, 0)} ms between the yield and \`ws.send()\`, against ${pct(pt.heldOthers, 2)} of the others (raw ws: ${pct(rt?.heldSeqMod64Zero, 1)} and ${pct(rt?.heldOthers, 2)}). The sender continues from setImmediate after every 64 frames it writes (YIELD_EVERY, lib/sender.ts), and the count runs over the connection's whole life, so a paced stream, which never has two frames ready, still has every 64th frame wait for the end of a turn of the event loop: ${num(100 / 64, 1)}% of its frames, enough to reach its p99.`, '')
  }
  return lines
}

function slowSection (ctx, n, sc) {
  const { out } = ctx
  const z = provenance(ctx.results, 'slowConsumers').sizes
  out.push(`## ${n}. ${TITLES.slowConsumers}`, '', ...sectionNote(ctx.results, 'slowConsumers'))
  const series = Object.entries(sc).filter(([, v]) => Array.isArray(v.timeline)).map(([label, v]) => ({ label, points: v.timeline.map((q) => ({ x: q.t, y: q.rssMiB })) }))
  chartLink(ctx, 'benchmarks-slow-consumers.svg', lineChart({
    id: 'slow',
    title: `Server RSS growth while ${num(z.slowClients)} clients do not read (${z.slowSeconds} s)`,
    desc: `Resident memory of each server over its baseline, in MiB, sampled every 250 ms from the moment ${num(z.slowClients)} clients stopped reading, for ${series.map((s) => s.label).join(' and ')}; the dashed line is the 64 MiB goal.`,
    series,
    xLabel: 'seconds since the clients stopped reading',
    yLabel: 'RSS growth, MiB',
    goal: { value: 64, label: 'goal: 64 MiB' },
    xMax: z.slowSeconds + 1
  }), 'Server RSS over time under slow consumers')
  out.push(`${num(z.slowClients)} clients start a run of ${num(z.slowTokens)} chunks and stop reading at once (\`ws.pause()\`) for ${z.slowSeconds} s while their runners produce at full speed; then the plugin's clients read everything, the naive server's clients are cut (draining what it buffered would take minutes). The chart shows the stall; a server too busy to answer the orchestrator's request for its memory has fewer points on it (the naive one, whose event loop is busy buffering, answers late; its last sample, after the stall, is in the table).`, '')
  out.push('| server | peak RSS growth MiB | RSS growth after a full GC, end of stall, MiB | of which live JS heap and buffers, MiB | runners held from (s) | RSS change after that, MiB | events pulled per run (max) | bytes buffered in user space at resume | delivered after resume |', '|---|---|---|---|---|---|---|---|---|')
  for (const [label, r] of Object.entries(sc)) {
    const held = afterHeld(r.timeline)
    out.push(`| ${label} | ${fig(r.peakGrowthMiB, 1)} | ${fig(r.retainedAfterGcMiB, 1)} | ${fig(r.liveHeapAfterGcMiB, 1)} | ${num(held.from, 1)} | ${num(held.change, 1)} | ${fig(r.pulledPerRunMax)} of ${num(z.slowTokens)} | ${num(r.bufferedBytesAtResume)} | ${r.allDelivered === null ? 'not read (cut)' : `${num(r.delivered)} of ${num(r.expected)}`} |`)
  }
  const p = sc[PLUGIN]
  if (p === undefined) { out.push(''); return }
  const h = afterHeld(p.timeline)
  const peak = med(p.peakGrowthMiB)
  const flat = Number.isFinite(h.change) && h.change < 8
  const ok = peak < 64 && flat && p.allDelivered === 1
  out.push('', `Goal: peak RSS growth under 64 MiB, flat once the kernel buffers are full, everything delivered. Growth: ${num(peak, 1)} MiB at the peak, ${num(med(p.retainedAfterGcMiB), 1)} MiB after a full GC (live JS heap and buffers: ${num(med(p.liveHeapAfterGcMiB), 1)} MiB; the rest is memory V8 and the allocator keep from the fill phase); flat: ${num(h.change, 1)} MiB of change after the runners were held (${h.samples} samples, from ${num(h.from, 1)} s to the end of the stall; filling ${num(z.slowClients)} connections' kernel buffers takes most of the stall on this machine, see the chart); delivered: ${p.allDelivered === 1 ? 'everything' : '**not everything**'}: ${verdict(ok)}. Of the live figure, ${num((p.bufferedBytesAtResume ?? 0) / 2 ** 20, 1)} MiB are the bytes waiting in user space (at most maxBufferedBytes plus one frame per connection); the rest is the runs' buffered events (at most highWaterMark each) and the per-connection state of ws and the plugin, held while ${num(z.slowClients)} runs are open.`, '')
  ctx.goals.push({ name: 'slowConsumers', goal: 'peak RSS growth, 200 stalled clients for 20 s, < 64 MiB, flat once kernel buffers fill, everything delivered', measured: `${num(peak, 1)} MiB peak; ${num(h.change, 1)} MiB of change once held; ${p.allDelivered === 1 ? 'all delivered' : 'not all delivered'}${z.slowClients !== 200 || z.slowSeconds !== 20 ? ` (${num(z.slowClients)} clients, ${z.slowSeconds} s)` : ''}`, ok })
  const naive = sc[NAIVE]
  ctx.headline.push({ figure: `peak RSS growth, ${num(z.slowClients)} stalled clients, ${z.slowSeconds} s`, plugin: `${num(peak, 1)} MiB, ${p.allDelivered === 1 ? 'all delivered after' : 'not all delivered'}`, baseline: naive ? `naive ${num(med(naive.peakGrowthMiB), 1)} MiB` : 'n/a', r: ratio(peak, med(naive?.peakGrowthMiB)), higherIsBetter: false, of: 'growth', goal: 'goal < 64 MiB' })
}

function idleSection (ctx, n, idle) {
  const { out } = ctx
  const z = provenance(ctx.results, 'idleConnections').sizes
  out.push(`## ${n}. ${TITLES.idleConnections}`, '', ...sectionNote(ctx.results, 'idleConnections'))
  const labels = Object.keys(idle)
  chartLink(ctx, 'benchmarks-idle.svg', barChart({
    id: 'idle',
    title: `Idle connections: server RSS per connection at ${num(z.idle)}`,
    desc: `Server RSS growth per open idle connection, KiB, after a full GC, with ${num(z.idle)} connections open, for ${labels.join('; ')}; the dashed line is the 8 KiB goal.`,
    groups: labels.map((k) => ({ label: k, bars: [bar(idle[k].kibPerConnection)] })),
    series: ['KiB per connection'],
    xLabel: 'server',
    yLabel: 'KiB per connection',
    goal: { value: 8, label: 'goal: 8 KiB' },
    unit: ' KiB'
  }), 'KiB of server RSS per idle connection, per server')
  out.push(`${num(z.idle)} open connections, no runs: server RSS growth per connection (after GC). The corked raw ws server is not measured here: without runs it is the raw ws server (it differs only in how it writes frames).`, '')
  out.push('| server | KiB per connection |', '|---|---|')
  for (const [label, r] of Object.entries(idle)) out.push(`| ${label} | ${fig(r.kibPerConnection, 1)} |`)
  const p = med(idle[PLUGIN]?.kibPerConnection)
  const raw = med(idle['raw ws']?.kibPerConnection)
  out.push('', `Goal: RSS per idle connection at 10,000 connections ≤ 8 KiB: ${num(p, 1)} KiB${z.idle !== 10_000 ? ` (at ${num(z.idle)})` : ''}, ${verdict(Number.isFinite(p) ? p <= 8 : null)}.`, '')
  ctx.goals.push({ name: 'idleConnections', goal: 'RSS per idle connection at 10,000 connections ≤ 8 KiB', measured: `${num(p, 1)} KiB${z.idle !== 10_000 ? ` (at ${num(z.idle)})` : ''}`, ok: Number.isFinite(p) ? p <= 8 : null })
  ctx.headline.push({ figure: `RSS per idle connection, ${num(z.idle)} open`, plugin: `${num(p, 1)} KiB`, baseline: `raw ws ${num(raw, 1)} KiB`, r: ratio(p, raw), higherIsBetter: false, of: 'memory per connection', goal: 'goal ≤ 8 KiB' })
}

function bridgeSection (ctx, n, b) {
  const { out } = ctx
  const z = provenance(ctx.results, 'bridge').sizes
  out.push(`## ${n}. ${TITLES.bridge}`, '', ...sectionNote(ctx.results, 'bridge'))
  const runsList = Object.keys(b.runs)
  const first = bridgeRows(b.runs[runsList[0]])
  const labels = [first.inproc.label, first.plugin.label, first.fastapi.label].filter((x) => x !== null)
  const pickRow = (row, label) => Object.values(bridgeRows(row)).find((x) => x.label === label)?.r
  chartLink(ctx, 'benchmarks-bridge.svg', barChart({
    id: 'bridge',
    title: 'Through the Python bridge: tokens/s by concurrent AutoGen runs',
    desc: `Tokens per second delivered with real AutoGen (ReplayChatCompletionClient, ${num(z.bridgeWords)} words per run), median with min–max whiskers, for ${labels.join('; ')}, at ${runsList.join(', ')} concurrent runs.`,
    groups: runsList.map((r) => ({ label: `${num(Number(r))} run${r === '1' ? '' : 's'}`, bars: labels.map((label) => bar(pickRow(b.runs[r], label)?.tokensPerS)) })),
    series: labels,
    xLabel: 'concurrent runs',
    yLabel: 'tokens/s'
  }), 'Bridge tokens/s by concurrent runs: plugin, fair FastAPI, AutoGen in-process')
  const fa = b.setup?.fastapi
  out.push(`A streaming AssistantAgent on AutoGen's ReplayChatCompletionClient answering ${num(z.bridgeWords)} words (one chunk each), per run: the same team, factory (\`bridge_examples:long_stream\`) and words on every row. Time to first token: from the client's start to its first token (in-process: from calling run_stream to the first chunk). CPU: all server-side processes per delivered token (the plugin: Node and its workers; FastAPI: uvicorn's parent and its workers), from /proc.`, '')
  out.push(`- **${first.plugin.label ?? 'plugin'}**: the plugin with \`pythonRunner({ workers: ${b.setup?.workers ?? 2} })\`, its default pool; the pool sends each run to the least loaded worker.`)
  out.push(`- **${first.fastapi.label ?? 'FastAPI'}**: benchmarks/python/fastapi_server.py${fa ? `, uvicorn's own multi-process mode with ${fa.workers} workers (as many Python processes as the bridge), \`loop="${fa.loop}"\`${fa.loopSeen ? ` (the workers reported ${fa.loopSeen})` : ''}, \`http="${fa.http}"\`, \`ws="${fa.ws}"\`` : ''}; each event serialized with pydantic's \`model_dump_json()\` and sent as text, \`await websocket.send_text()\` per event (no backpressure, no batching: the AutoGen Studio / FastAPI sample pattern, with its serialization made as cheap as the bridge worker's). uvicorn's parent binds one listening socket and its workers all accept from it (no SO_REUSEPORT): the kernel wakes the waiting workers and whichever accepts first takes the connection, as in any \`uvicorn --workers N\` deployment. So one run uses one worker, and N runs spread as the accepts fall (the busiest worker's share is in the table). Each server (the plugin too) is warmed first with an untimed round of as many runs, of as many words as a measured run, until every worker has run one.`)
  out.push(`- **${first.inproc.label ?? 'AutoGen in-process'}**: benchmarks/python/inprocess.py, the same runs consumed in one Python process with nothing attached: AutoGen's own rate.`, '')
  out.push('| concurrent runs | server | tokens/s | time to first token ms | CPU µs/token | runs on the busiest worker | all delivered |', '|---|---|---|---|---|---|---|')
  for (const [runs, row] of Object.entries(b.runs)) {
    for (const [label, r] of Object.entries(row)) out.push(`| ${num(Number(runs))} | ${label} | ${fig(r.tokensPerS)} | ${fig(r.ttftMs, 2)} | ${fig(r.cpuUsPerToken, 1)} | ${r.busiestWorkerRuns === undefined ? '' : `${fig(r.busiestWorkerRuns)} of ${num(Number(runs))}`} | ${r.complete === undefined ? '' : med(r.complete) === 1 ? 'yes' : '**no**'} |`)
  }
  const goals = []
  const one = bridgeRows(b.runs['1'] ?? {})
  const r1 = ratio(med(one.plugin.r?.tokensPerS), med(one.fastapi.r?.tokensPerS))
  goals.push(`| 1 | tokens/s against FastAPI (${b.setup ? 'fair' : 'as measured'}) ≥ 1.0× | ${times(r1)} | ${verdict(Number.isFinite(r1) ? r1 >= 1 : null)} |`)
  const shares = []
  for (const runs of ['50', '200']) {
    const x = bridgeRows(b.runs[runs] ?? {})
    const share = ratio(med(x.plugin.r?.tokensPerS), med(x.inproc.r?.tokensPerS))
    shares.push({ runs, share })
    goals.push(`| ${runs} | tokens/s ≥ 60% of AutoGen in-process | ${pct(share)} | ${verdict(Number.isFinite(share) ? share >= 0.6 : null)} |`)
  }
  for (const [runs, row] of Object.entries(b.runs)) {
    const x = bridgeRows(row)
    if (x.plugin.r && x.inproc.r) goals.push(`| ${num(Number(runs))} | (not a goal) time to first token against in-process | ${signed(med(x.plugin.r.ttftMs) - med(x.inproc.r.ttftMs), 2)} ms | |`)
  }
  out.push('', '| runs | goal | measured | |', '|---|---|---|---|', ...goals, '')
  ctx.goals.push({ name: 'bridge', goal: `bridge, 1 run, tokens/s against FastAPI (${b.setup ? 'fair: 2 workers, uvloop, httptools, model_dump_json' : 'an older, unfair FastAPI baseline'}) ≥ 1.0×`, measured: times(r1), ok: Number.isFinite(r1) ? r1 >= 1 : null })
  const measuredShares = shares.filter((x) => Number.isFinite(x.share))
  ctx.goals.push({ name: 'bridge', goal: 'bridge, 50 and 200 runs, tokens/s against AutoGen in-process ≥ 60% at both', measured: measuredShares.length === 0 ? 'not measured' : measuredShares.map((x) => `${pct(x.share)} at ${x.runs}`).join(', ') + (measuredShares.length < 2 ? ` (${shares.filter((x) => !Number.isFinite(x.share)).map((x) => x.runs).join(', ')} not measured)` : ''), ok: measuredShares.length === 2 ? measuredShares.every((x) => x.share >= 0.6) : null })
  out.push('AutoGen in-process does not interleave concurrent runs of the replay client (its stream never suspends), so its time to first token grows with the number of runs: each run waits for the ones before it; the same holds inside each FastAPI worker (`send_text` does not suspend either while the socket takes the bytes). Through the plugin, runs interleave (each worker yields every 64 items and two workers run in parallel). At one run, a run through the plugin crosses three processes (worker, server, client) on two cores, and the worker and Node each spend CPU per token that AutoGen alone does not; FastAPI has one process fewer.', '')
  const st = b.stalled
  if (st) out.push(`Stalled clients: ${st.runs} runs of 200,000 words whose clients do not read. Worker RSS (both workers) started at ${num(st.workersRssStartMiB, 1)} MiB and moved by ${num(st.workersRssGrowthSecondHalfMiB, 1)} MiB over the second half of the stall (goal: flat).`, '')
  for (const runs of ['1', '50']) {
    const x = bridgeRows(b.runs[runs] ?? {})
    if (!x.plugin.r) continue
    if (x.fastapi.r) ctx.headline.push({ figure: `bridge tokens/s, ${runs} run${runs === '1' ? '' : 's'}`, plugin: num(med(x.plugin.r.tokensPerS)), baseline: `FastAPI${b.setup ? ' (2 workers, uvloop, httptools)' : ' (1 process)'} ${num(med(x.fastapi.r.tokensPerS))}`, r: ratio(med(x.plugin.r.tokensPerS), med(x.fastapi.r.tokensPerS)), higherIsBetter: true, of: 'tokens/s' })
    if (runs !== '1' && x.inproc.r) ctx.headline.push({ figure: `bridge tokens/s, ${runs} runs`, plugin: num(med(x.plugin.r.tokensPerS)), baseline: `AutoGen in-process ${num(med(x.inproc.r.tokensPerS))}`, r: ratio(med(x.plugin.r.tokensPerS), med(x.inproc.r.tokensPerS)), higherIsBetter: true, of: 'tokens/s', goal: 'goal ≥ 60%', asShare: true })
  }
}

/** Scenario 6: attach latency and replay throughput of protocol v2's resume. */
function resumeSection (ctx, n, r) {
  const { out, results } = ctx
  const z = r.sizes
  const mib = (n) => `${num(n / 2 ** 20)} MiB`
  const o = r.options.attachFinished
  out.push(`## ${n}. ${TITLES.resume}`, '', ...sectionNote(results, 'resume'))
  const replayGroups = Object.entries(r.replay).map(([tokens, row]) => ({ label: `${num(Number(tokens))} chunks`, bars: Object.values(row).map((x) => bar(x.chunksPerS)) }))
  const clientsSeries = [...new Set(Object.values(r.replay).flatMap((row) => Object.keys(row)))].map((c) => `${c} client${c === '1' ? '' : 's'}`)
  chartLink(ctx, 'benchmarks-resume.svg', barChart({
    id: 'resume',
    title: 'Replay throughput: chunks/s replayed from a finished run\'s log',
    desc: `Chunks per second replayed to ${clientsSeries.join(' and ')} attaching at once to a finished run, summed over the clients, median with min–max whiskers, for runs of ${Object.keys(r.replay).map((t) => num(Number(t))).join(' and ')} chunks.`,
    groups: replayGroups,
    series: clientsSeries,
    xLabel: 'finished run replayed',
    yLabel: 'chunks/s, all clients'
  }), 'Replay throughput, chunks/s, by run length and number of clients')
  out.push(`Protocol v2 keeps each run's frames in an in-memory log, apart from the connection that started it: a client sends \`attach {runId, after, resumeToken?}\` and gets an \`attached\` frame, then every frame with seq > after from the log (the replay), then the live ones. Measured on the plugin server with the in-process JS runner (chunks as fast as it can), v2 clients, on ${r.date.slice(0, 10)}${r.build ? `, commit ${r.build.label ?? r.build.commit}${r.build.dirty ?? r.build.libChanged ? ' (with uncommitted changes)' : ''}` : ''}${provenance(results, 'resume').repetitions > 1 ? `, ${provenance(results, 'resume').repetitions} servers per row` : ''}${r.loadAverage === undefined ? '' : ` (1-minute load average ${num(r.loadAverage.before, 2)} before, ${num(r.loadAverage.after, 2)} after: the machine's other work)`}.`, '')
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
    ` A finished run held in memory cost about ${num(Math.min(...perChunk))}–${num(Math.max(...perChunk))} bytes of heap and buffers per chunk (its text as UTF-8 bytes, its seq's cells in the log's rings, and its share of its message's context: profile notes, item 12), against ${num(med(Object.values(Object.values(r.replay)[0])[0].logMiB) * 2 ** 20 / Number(Object.keys(r.replay)[0]))} bytes of JSON: the log's \`logBytes\` counts only the JSON, and retainBytes bounds only that.`, '')
}

/**
 * Scenario 7: the scale-out mode (docs/redis.md) against the in-process
 * bridge, measured in the same run. `machine` is the run's that measured it;
 */
function redisSection (ctx, n, r, machine) {
  const { out, results } = ctx
  const p = provenance(results, 'redis')
  const z = r.setup
  const kib = (bytes) => num(bytes / 1024, 1)
  const o = z.gatewayOptions
  const IN = Object.keys(Object.values(r.runs)[0])[0]
  const RD = Object.keys(Object.values(r.runs)[0])[1]
  out.push(`## ${n}. ${TITLES.redis}`, '', ...sectionNote(results, 'redis'))
  chartLink(ctx, 'benchmarks-redis.svg', barChart({
    id: 'redis',
    title: 'Scale-out through Redis: tokens/s by concurrent runs',
    desc: `Tokens per second with real AutoGen (${num(r.setup.words)} words per run), median with min–max whiskers, through Redis (1 gateway, 2 worker hosts, 1 redis-server) and through the in-process bridge, at ${Object.keys(r.runs).join(', ')} concurrent runs.`,
    groups: Object.entries(r.runs).map(([runs, row]) => ({ label: `${num(Number(runs))} run${runs === '1' ? '' : 's'}`, bars: Object.values(row).map((x) => bar(x.tokensPerS)) })),
    series: Object.keys(Object.values(r.runs)[0]),
    xLabel: 'concurrent runs',
    yLabel: 'tokens/s'
  }), 'Tokens/s through Redis against the in-process bridge, by concurrent runs')
  out.push(`Measured ${p.inFullRun ? 'in the full run' : `by \`node benchmarks/run.js${r.quick ? ' --quick' : ''} --only=redis --merge\``} on ${r.date.slice(0, 10)}${r.build ? `, commit ${r.build.label ?? r.build.commit}${r.build.dirty ?? r.build.libChanged ? ' (with uncommitted changes)' : ''}` : ''}: ${machine.cores} cores (${machine.cpu}), Node ${machine.node}, Python ${machine.python}, redis-server ${z.redisServer ?? 'n/a'} (Debian's), ${r.repetitions} repetition${r.repetitions > 1 ? 's' : ''} per row${r.loadAverage?.after === undefined ? '' : `; 1-minute load average ${num(r.loadAverage.before, 2)} before, ${num(r.loadAverage.after, 2)} after (other work on the machine shows here)`}. Every process is on the same ${machine.cores} cores, over 127.0.0.1:`, '')
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

// --------------------------------------------------------------------- page

const machineLine = (x) => `${x.cores} cores (${x.cpu}), ${x.memoryGiB} GiB, Node ${x.node}, Python ${x.python}`

/**
 * The README's headline: the full run's scenarios only, each figure with
 * the baseline it is compared to and which side is ahead.
 */
function headlineTable (results, rows, left) {
  const full = results.fullRun
  if (!full) return ['No full run in this results file (it was made by `--merge`): no headline figures.']
  const lines = [`From the full run on commit ${full.commit}, ${full.date.slice(0, 10)}${full.quick ? ' (a quick run: indicative only)' : ''}; all figures: [docs/benchmarks.md](docs/benchmarks.md).${left.length > 0 ? ` Not in it, so not here: ${left.join(', ')} (measured later by \`--merge\`).` : ''} "Ahead" and "behind" read the plugin against that baseline.`, '']
  lines.push('| figure | plugin | baseline | plugin against baseline |', '|---|---|---|---|')
  for (const h of rows) {
    let against = 'n/a'
    if (Number.isFinite(h.r)) {
      const ahead = h.higherIsBetter ? h.r >= 1 : h.r <= 1
      const amount = h.asShare ? `${num(100 * h.r)}% of its ${h.of}` : `${num(h.r, 2)}× its ${h.of}`
      against = `${ahead ? 'ahead' : '**behind**'}: ${amount}${h.goal ? ` (${h.goal})` : ''}`
    }
    lines.push(`| ${h.figure} | ${h.plugin} | ${h.baseline} | ${against} |`)
  }
  return lines
}

/**
 * Builds the page, its charts and the README's headline from `results`.
 * Writes them to `outDir` (default: the repository's docs/ and README.md),
 * and returns what it wrote.
 */
export function writeReport (input, root, { outDir = null, source = null } = {}) {
  const results = normalizeResults(input)
  const s = results.scenarios
  const m = results.machine
  const ctx = { results, out: [], charts: new Map(), goals: [], headline: [] }
  const { out } = ctx
  const full = results.fullRun
  const present = SECTIONS.filter((name) => s[name] !== undefined && s[name]?.skipped === undefined)
  const merged = present.filter((name) => !provenance(results, name).inFullRun)

  out.push('# Benchmarks', '')
  out.push(`Generated by \`node benchmarks/report.js\` (also at the end of \`npm run bench\`) from \`${source ?? 'benchmarks/results/latest.json'}\`; do not edit by hand.`, '')
  if (full) {
    out.push(`**Full run: commit ${full.commit}${full.dirty ? ' (uncommitted changes under lib/, python/ or benchmarks/ at the time)' : ''}, ${full.date.slice(0, 10)}**, \`node benchmarks/run.js${full.quick ? ' --quick' : ''}${full.only ? ` --only=${full.only.join(',')}` : ''}\`, ${full.repetitions} repetition${full.repetitions > 1 ? 's' : ''} per figure${merged.length > 0 ? `; merged into this file later by \`--merge\` (other runs, labelled so in their sections): ${merged.map((name) => `${SHORT[name]} (${provenance(results, name).commit}, ${provenance(results, name).date})`).join('; ')}` : ''}.`)
  } else {
    out.push('**No full run**: every scenario here was measured by `--merge`; each section says on which commit.')
  }
  // With --merge, scenarios kept from earlier runs say which machine measured them.
  const groups = new Map()
  for (const name of present) {
    const line = machineLine(results.measuredOn?.[name] ?? m)
    groups.set(line, [...(groups.get(line) ?? []), name])
  }
  if (groups.size <= 1) {
    out.push(`Machine: ${machineLine(m)}.`)
  } else {
    out.push(`Machines: ${[...groups].map(([line, names]) => `${names.map((name) => SHORT[name]).join(', ')} on ${line}`).join('; ')}. Compare within a scenario.`)
  }
  out.push(`Each figure is the median of the repetitions (slow consumers: ${results.quick ? 1 : 2} for the plugin, 1 for the naive baseline), with min–max in parentheses. Servers, the load generator and Python run as separate processes on the same ${m.cores} cores, over 127.0.0.1.`, '')
  out.push('Baselines, in the same run:', '')
  out.push('- **raw ws**: a bare `ws` server sending the plugin\'s token frame, one per chunk, as fast as its runner yields, never waiting for the socket; ws writes each frame with its own system call (`writev`).')
  out.push('- **corked raw ws** (throughput and latency): the same server, but it corks the socket, sends the frames its runner has ready (at most 64; "ready": the runner\'s next chunk comes within a few microtask turns, so a paced runner\'s frame is never held for the next one), uncorks (one system call for the batch) and goes on from setImmediate after a full batch (benchmarks/servers/raw-ws-corked.js). Plain raw ws is not the ceiling for one frame per token: this batch write is, and the plugin\'s sender writes the same way.')
  out.push('- **naive @fastify/websocket**: `socket.send()` of every AutoGen event, verbatim, never waiting: what tutorials and AutoGen Studio-style code do.')
  out.push('- For the bridge, **AutoGen in-process** (the team consumed in Python with nothing attached: AutoGen\'s own rate) and **FastAPI + uvicorn** made fair: as many processes as the bridge\'s workers (2, uvicorn\'s `workers`), uvloop and httptools, pydantic\'s `model_dump_json()` per event sent with `send_text` (the AutoGen Studio / FastAPI sample pattern, with nothing left on the table).', '')

  // Sections first (they fill ctx.goals), then the goals table goes in at the top.
  const body = ctx.out = []
  let n = 1
  const section = { throughput: throughputSection, latency: latencySection, slowConsumers: slowSection, idleConnections: idleSection, bridge: bridgeSection, resume: resumeSection }
  const numbers = {}
  for (const name of present) {
    numbers[name] = n
    const before = ctx.headline.length
    if (name === 'redis') redisSection(ctx, n++, s.redis, results.measuredOn?.redis ?? m)
    else section[name](ctx, n++, s[name])
    // The README's headline: only what the full run measured.
    if (!provenance(results, name).inFullRun) ctx.headline.splice(before)
  }
  body.push(`## ${n}. Cost per token`, '', `Server CPU microseconds per delivered token are in the tables of ${['throughput', 'latency', 'bridge', 'redis'].filter((x) => numbers[x]).map((x) => `section ${numbers[x]}`).join(', ') || 'the sections above'}.`, '')
  const notes = join(root, 'benchmarks', 'profile-notes.md')
  // Kept by hand in benchmarks/profile-notes.md (its HTML comments, which say how to add an entry, stay out of the page).
  if (existsSync(notes)) body.push(readFileSync(notes, 'utf8').replace(/<!--[\s\S]*?-->\n*/g, '').trim(), '')

  out.push('## Goals', '')
  out.push('Issue 14\'s goals, each from the section that measures it (the "from" column says whether that figure is the full run\'s).', '')
  out.push('| goal | measured | | from |', '|---|---|---|---|')
  const wanted = [
    ['throughput', 'tokens/s, 100 and 1,000 streams, against corked raw ws ≥ 1.0× at both'],
    ['throughput', 'tokens/s, 1,000 streams, against plain raw ws ≥ 1.5×'],
    ['bridge', 'bridge, 1 run, tokens/s against FastAPI'],
    ['bridge', 'bridge, 50 and 200 runs'],
    ['slowConsumers', 'peak RSS growth'],
    ['idleConnections', 'RSS per idle connection']
  ]
  for (const [name, prefix] of wanted) {
    const g = ctx.goals.find((x) => x.name === name && x.goal.startsWith(prefix))
    const p = provenance(results, name)
    const from = s[name] === undefined ? '' : `[${p.inFullRun ? 'full run' : `--merge, ${p.commit}`}](#${numbers[name]}-${TITLES[name].toLowerCase().replace(/[^a-z0-9 -]/g, '').replace(/ /g, '-')})`
    if (g === undefined) out.push(`| ${prefix}… | not measured | | |`)
    else out.push(`| ${g.goal} | ${g.measured} | ${verdict(g.ok) || 'n/a'} | ${from} |`)
  }
  out.push('')
  out.push(...body)

  const headline = headlineTable(results, ctx.headline, present.filter((name) => !provenance(results, name).inFullRun).map((name) => SHORT[name]))

  // Where it all goes.
  const docs = outDir ?? join(root, 'docs')
  mkdirSync(docs, { recursive: true })
  writeFileSync(join(docs, 'benchmarks.md'), out.join('\n').replace(/\n{3,}/g, '\n\n').trimEnd() + '\n')
  // Charts: the ones of this page, and none left over from an earlier one (each must be shown by a page: test/package-contents.test.ts).
  for (const f of readdirSync(docs)) if (/^benchmarks-.*\.svg$/.test(f) && !ctx.charts.has(f)) rmSync(join(docs, f))
  for (const [f, text] of ctx.charts) writeFileSync(join(docs, f), text)
  const readme = readFileSync(join(root, 'README.md'), 'utf8')
  const table = ['<!-- bench:start -->', ...headline, '<!-- bench:end -->'].join('\n')
  if (readme.includes('<!-- bench:start -->')) {
    writeFileSync(outDir === null ? join(root, 'README.md') : join(outDir, 'README.md'), readme.replace(/<!-- bench:start -->[\s\S]*<!-- bench:end -->/, table))
  }
  return { page: join(docs, 'benchmarks.md'), charts: [...ctx.charts.keys()], goals: ctx.goals }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const here = dirname(fileURLToPath(import.meta.url))
  const root = join(here, '..')
  const args = process.argv.slice(2)
  const from = args.find((a) => a.startsWith('--from='))?.slice(7) ?? args.find((a) => !a.startsWith('--'))
  const outDir = args.find((a) => a.startsWith('--out='))?.slice(6)
  const file = from === undefined ? join(here, 'results', 'latest.json') : resolve(from)
  const done = writeReport(JSON.parse(readFileSync(file, 'utf8')), root, {
    outDir: outDir === undefined ? null : resolve(outDir),
    source: file.startsWith(root + '/') ? file.slice(root.length + 1) : file
  })
  console.log(`wrote ${done.page} and ${done.charts.length} chart(s)${outDir === undefined ? ', and the README headline' : ''}`)
}
