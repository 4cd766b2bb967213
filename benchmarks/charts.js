// Charts of docs/benchmarks.md (benchmarks/report.js draws them from the
// results file). Hand-written SVG, no dependency: each chart has a <title> and a <desc>
// (read by screen readers: role="img", aria-labelledby), axis labels, a
// legend, and the figures as text where they fit. Colours are the Tableau 10
// palette, told apart by the legend's order as well as by hue.

const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7']
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
const FONT = 'font-family="Helvetica, Arial, sans-serif"'

/** 1,234 → "1.2k", 1,234,567 → "1.23M"; small numbers keep two significant decimals. */
function compact (v) {
  if (!Number.isFinite(v)) return 'n/a'
  const a = Math.abs(v)
  if (Number.isInteger(v) && a < 1e4) return String(v)
  if (a >= 1e6) return `${(v / 1e6).toFixed(a >= 1e7 ? 1 : 2)}M`
  if (a >= 1e4) return `${Math.round(v / 1e3)}k`
  if (a >= 1e3) return `${(v / 1e3).toFixed(1)}k`
  if (a >= 100) return v.toFixed(0)
  if (a >= 10) return v.toFixed(1)
  if (a >= 1) return v.toFixed(2)
  return v.toPrecision(2)
}

/** Round tick steps (1, 2, 5 × 10^n) from 0 to at least max. */
function linearTicks (max, count = 5) {
  if (!(max > 0)) return [0, 1]
  const raw = max / count
  const mag = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw)
  const ticks = []
  for (let v = 0; v < max + step / 2; v += step) ticks.push(v)
  if (ticks.at(-1) < max) ticks.push(ticks.at(-1) + step)
  return ticks
}

/** Powers of ten around [min, max] (for a log scale). */
function logTicks (min, max) {
  const lo = Math.floor(Math.log10(Math.max(min, 1e-6)))
  const hi = Math.ceil(Math.log10(Math.max(max, min * 10)))
  const ticks = []
  for (let e = lo; e <= hi; e++) ticks.push(10 ** e)
  return ticks
}

/** The title, on as many lines of at most `chars` characters as it needs. */
function titleLines (title, chars) {
  const lines = ['']
  for (const word of title.split(' ')) {
    if (lines.at(-1).length > 0 && lines.at(-1).length + word.length + 1 > chars) lines.push(word)
    else lines[lines.length - 1] = lines.at(-1) ? `${lines.at(-1)} ${word}` : word
  }
  return lines
}

const WIDTH = 760
/** Layout: the title on top (wrapped), the plot, the x label, then the legend, one entry per line. */
function frame (title, entries, plotHeight) {
  const lines = titleLines(title, 88)
  const T = 22 + lines.length * 18
  const B = 58
  return { lines, T, B, height: T + plotHeight + B + entries * 18 + 8 }
}

function svg ({ id, width, height, title, desc, lines }, body) {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-labelledby="${id}-title ${id}-desc" ${FONT}>
<title id="${id}-title">${esc(title)}</title>
<desc id="${id}-desc">${esc(desc)}</desc>
<rect width="100%" height="100%" fill="white"/>
${lines.map((line, i) => `<text x="16" y="${22 + i * 18}" font-size="15" font-weight="bold">${esc(line)}</text>`).join('\n')}
${body}
</svg>
`
}

function legend (items, x, y) {
  return items.map((item, i) => `<g transform="translate(${x},${y + i * 18})"><rect width="12" height="12" fill="${item.color}"${item.dash ? ' fill-opacity="0"' : ''}/>${item.dash ? `<line x1="0" x2="12" y1="6" y2="6" stroke="${item.color}" stroke-width="2" stroke-dasharray="4 2"/>` : ''}<text x="18" y="10.5" font-size="12">${esc(item.label)}</text></g>`).join('\n')
}

/**
 * Grouped vertical bars: `groups` along x ({ label, bars: [{ value, min?, max? }] },
 * one bar per series, null for none), `series` the legend. log: a log y axis.
 * goal: a dashed line ({ value, label }). Min–max whiskers where given.
 */
export function barChart ({ id, title, desc, groups, series, xLabel, yLabel, log = false, goal = null, unit = '' }) {
  const values = groups.flatMap((g) => g.bars.flatMap((b) => (b === null ? [] : [b.value, b.max ?? b.value]))).filter((v) => Number.isFinite(v) && (!log || v > 0))
  if (values.length === 0) return null
  const { lines, T, B, height: total } = frame(title, series.length + (goal === null ? 0 : 1), 240)
  const L = 70; const R = 20
  const width = WIDTH
  const height = T + 240 + B
  const plotW = width - L - R
  const barW = Math.max(10, Math.min(40, (plotW / groups.length - 24) / series.length))
  const top = Math.max(...values, goal?.value ?? 0)
  let y
  let ticks
  if (log) {
    const bottom = Math.min(...values)
    ticks = logTicks(bottom, top)
    const lo = Math.log10(ticks[0]); const hi = Math.log10(ticks.at(-1))
    y = (v) => height - B - ((Math.log10(Math.max(v, ticks[0])) - lo) / (hi - lo)) * (height - B - T)
  } else {
    ticks = linearTicks(top * 1.08)
    y = (v) => height - B - (Math.max(v, 0) / ticks.at(-1)) * (height - B - T)
  }
  const grid = ticks.map((v) => `<line x1="${L}" x2="${L + plotW}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#e5e5e5"/><text x="${L - 6}" y="${(y(v) + 4).toFixed(1)}" font-size="11" text-anchor="end">${compact(v)}</text>`).join('\n')
  const slot = plotW / groups.length
  const bars = groups.map((g, gi) => {
    const x0 = L + gi * slot + (slot - barW * series.length) / 2
    const parts = g.bars.map((b, si) => {
      if (b === null || !Number.isFinite(b.value)) return ''
      const x = x0 + si * barW
      const yTop = y(b.value)
      const base = y(log ? ticks[0] : 0)
      const label = `${series[si]}, ${g.label}: ${compact(b.value)}${unit}${Number.isFinite(b.min) && b.min !== b.max ? ` (${compact(b.min)}–${compact(b.max)})` : ''}`
      let out = `<rect x="${(x + 1).toFixed(1)}" y="${yTop.toFixed(1)}" width="${(barW - 2).toFixed(1)}" height="${Math.max(0, base - yTop).toFixed(1)}" fill="${PALETTE[si % PALETTE.length]}"><title>${esc(label)}</title></rect>`
      if (Number.isFinite(b.min) && Number.isFinite(b.max) && b.min !== b.max) {
        const cx = x + barW / 2
        out += `<path d="M${cx.toFixed(1)},${y(b.min).toFixed(1)}V${y(b.max).toFixed(1)}M${(cx - 3).toFixed(1)},${y(b.min).toFixed(1)}h6M${(cx - 3).toFixed(1)},${y(b.max).toFixed(1)}h6" stroke="#333" stroke-width="1"/>`
      }
      if (barW >= 18) out += `<text x="${(x + barW / 2).toFixed(1)}" y="${(Math.min(yTop, y(b.max ?? b.value)) - 4).toFixed(1)}" font-size="10" text-anchor="middle">${compact(b.value)}</text>`
      return out
    }).join('')
    return `${parts}<text x="${(L + gi * slot + slot / 2).toFixed(1)}" y="${height - B + 18}" font-size="12" text-anchor="middle">${esc(g.label)}</text>`
  }).join('\n')
  const goalLine = goal === null
    ? ''
    : `<line x1="${L}" x2="${L + plotW}" y1="${y(goal.value).toFixed(1)}" y2="${y(goal.value).toFixed(1)}" stroke="#222" stroke-width="1.5" stroke-dasharray="6 4"/><text x="${L + plotW - 4}" y="${(y(goal.value) - 5).toFixed(1)}" font-size="11" text-anchor="end">${esc(goal.label)}</text>`
  const axes = `<line x1="${L}" x2="${L + plotW}" y1="${height - B}" y2="${height - B}" stroke="#333"/><line x1="${L}" x2="${L}" y1="${T}" y2="${height - B}" stroke="#333"/>
<text x="${L + plotW / 2}" y="${height - 14}" font-size="12" text-anchor="middle">${esc(xLabel)}</text>
<text transform="translate(16,${(T + height - B) / 2}) rotate(-90)" font-size="12" text-anchor="middle">${esc(yLabel)}${log ? ' (log scale)' : ''}</text>`
  const keys = series.map((label, i) => ({ label, color: PALETTE[i % PALETTE.length] }))
  if (goal !== null) keys.push({ label: goal.label, color: '#222', dash: true })
  return svg({ id, width, height: total, title, desc, lines }, `${grid}\n${axes}\n${bars}\n${goalLine}\n${legend(keys, L, height + 4)}`)
}

/**
 * Lines over time: `series` [{ label, points: [{ x, y }] }]; goal: a dashed
 * horizontal line; xMax: points beyond it are left out. A series of few
 * points gets a marker on each (the line between them is not a measurement).
 */
export function lineChart ({ id, title, desc, series: all0, xLabel, yLabel, goal = null, xMax = Infinity }) {
  const series = all0.map((s) => ({ ...s, points: s.points.filter((p) => p.x <= xMax) }))
  const all = series.flatMap((s) => s.points)
  if (all.length === 0) return null
  const { lines, T, B, height: total } = frame(title, series.length + (goal === null ? 0 : 1), 240)
  const width = WIDTH; const L = 70; const R = 20
  const height = T + 240 + B
  const plotW = width - L - R
  const xt = linearTicks(Math.max(...all.map((p) => p.x), 1))
  const yt = linearTicks(Math.max(...all.map((p) => p.y), goal?.value ?? 0, 1) * 1.05)
  const x = (v) => L + (v / xt.at(-1)) * plotW
  const y = (v) => height - B - (Math.max(v, 0) / yt.at(-1)) * (height - B - T)
  const grid = yt.map((v) => `<line x1="${L}" x2="${L + plotW}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#e5e5e5"/><text x="${L - 6}" y="${(y(v) + 4).toFixed(1)}" font-size="11" text-anchor="end">${compact(v)}</text>`).join('\n') + '\n' +
    xt.map((v) => `<text x="${x(v).toFixed(1)}" y="${height - B + 16}" font-size="11" text-anchor="middle">${compact(v)}</text>`).join('\n')
  const paths = series.map((s, i) => `<path d="${s.points.map((p, k) => `${k === 0 ? 'M' : 'L'}${x(p.x).toFixed(1)},${y(p.y).toFixed(1)}`).join(' ')}" fill="none" stroke="${PALETTE[i % PALETTE.length]}" stroke-width="2"><title>${esc(s.label)}</title></path>` +
    (s.points.length < 30 ? s.points.map((p) => `<circle cx="${x(p.x).toFixed(1)}" cy="${y(p.y).toFixed(1)}" r="3" fill="${PALETTE[i % PALETTE.length]}"/>`).join('') : '')).join('\n')
  const goalLine = goal === null
    ? ''
    : `<line x1="${L}" x2="${L + plotW}" y1="${y(goal.value).toFixed(1)}" y2="${y(goal.value).toFixed(1)}" stroke="#222" stroke-width="1.5" stroke-dasharray="6 4"/>`
  const axes = `<line x1="${L}" x2="${L + plotW}" y1="${height - B}" y2="${height - B}" stroke="#333"/><line x1="${L}" x2="${L}" y1="${T}" y2="${height - B}" stroke="#333"/>
<text x="${L + plotW / 2}" y="${height - 14}" font-size="12" text-anchor="middle">${esc(xLabel)}</text>
<text transform="translate(16,${(T + height - B) / 2}) rotate(-90)" font-size="12" text-anchor="middle">${esc(yLabel)}</text>`
  const keys = series.map((s, i) => ({ label: s.label, color: PALETTE[i % PALETTE.length] }))
  if (goal !== null) keys.push({ label: goal.label, color: '#222', dash: true })
  return svg({ id, width, height: total, title, desc, lines }, `${grid}\n${axes}\n${paths}\n${goalLine}\n${legend(keys, L, height + 4)}`)
}
