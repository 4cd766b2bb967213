import { readFileSync } from 'node:fs'
import t from 'tap'
// @ts-expect-error a plain .mjs script without declarations
import { renderReliability } from '../scripts/soak-report.mjs'

/*
 * docs/reliability.md is generated from the full soak's results
 * (benchmarks/results/soak.json, `npm run soak`): the page must be what the
 * generator makes of that file, so that nobody edits the figures by hand and
 * a results file committed without its page (or the other way) is caught.
 */

const results = JSON.parse(readFileSync(new URL('../benchmarks/results/soak.json', import.meta.url), 'utf8'))
const page = readFileSync(new URL('../docs/reliability.md', import.meta.url), 'utf8')

t.test('docs/reliability.md is generated from benchmarks/results/soak.json', async (t) => {
  t.equal(page, renderReliability(results) as string, 'regenerate it: npm run soak:report')
})

t.test('the committed soak is a full run that passed and found no leak', async (t) => {
  t.equal(results.kind, 'full')
  t.equal(results.ok, true)
  for (const mode of results.modes) {
    t.same(mode.checks.filter((c: { ok: boolean }) => !c.ok), [], `${mode.mode}: every check passed`)
    const outcomes = Object.values(mode.outcomes as Record<string, number>).reduce((a, b) => a + b, 0)
    t.equal(outcomes, mode.runs, `${mode.mode}: every run accounted for by its outcome`)
  }
  t.match(page, new RegExp(`Seed \\*\\*${results.seed as number}\\*\\*`), 'the page names the seed')
})
