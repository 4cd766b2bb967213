import t from 'tap'
import type { FastifyInstance } from 'fastify'
import type { Browser } from 'playwright-core'
import { browserAvailability, launchChromium, openPage, startDemoApp } from './fixtures/browser.js'
import { protocolErrors } from './fixtures/ag-ui.js'

/*
 * The demo app's AG-UI page (examples/demo/ag-ui.html) in a real browser:
 * AG-UI's own client (@ag-ui/client's HttpAgent, bundled by the demo app
 * with esbuild) against the demo app's AG-UI endpoint and its default team
 * (python/autogen_stream_bridge/demo.py: a selector team with a tool, a
 * thought, streaming and a human, on AutoGen's replay model client). The
 * run goes to its end, the human's answer given on the page. Waits are on
 * the page's DOM; nothing sleeps.
 */

const TASK = 'Plan a weekend in Lisbon'
const REPLY = 'More time at the seaside, please'

const availability = browserAvailability()
const skip = availability.skip ?? (availability.fail === undefined ? undefined : 'no browser (see the failure above)')
let app: FastifyInstance
let base: string
let browser: Browser

if (availability.fail !== undefined) {
  t.fail(availability.fail)
} else if (skip === undefined) {
  t.before(async () => {
    ({ app, base } = await startDemoApp({ workers: 1, env: { AUTOGEN_DEMO_DELAY_MS: '5' } }))
    browser = await launchChromium()
  })
  t.teardown(async () => {
    await browser?.close()
    await app?.close()
  })
}

declare const document: { querySelectorAll: (s: string) => ArrayLike<{ getAttribute: (n: string) => string | null, textContent: string | null }>, getElementById: (id: string) => { getAttribute: (n: string) => string | null } | null }
declare const window: { agUi: { events: Array<Record<string, unknown>>, runId: string } }

t.test("the AG-UI page runs the demo team to its end with AG-UI's HttpAgent in the browser", { skip }, async (t) => {
  const watched = await openPage(browser, `${base}/ag-ui`)
  t.teardown(() => watched.context.close())
  const { page } = watched
  await page.fill('#task', TASK)
  await page.press('#task', 'Enter')

  await page.waitForFunction(() => document.getElementById('app')?.getAttribute('data-status') === 'input')
  t.ok(await page.isVisible('#reply'), 'the team asks: the reply box shows')
  await page.fill('#reply-text', REPLY)
  await page.press('#reply-text', 'Enter')
  await page.waitForFunction(() => document.getElementById('app')?.getAttribute('data-status') === 'success')
  await watched.screenshot('ag-ui-result')
  t.equal(await page.textContent('#status'), 'Done.')

  const shown = await page.evaluate(() => Array.from(document.querySelectorAll('#transcript > li')).map((li) => ({
    kind: li.getAttribute('data-kind') ?? '',
    label: li.getAttribute('data-label') ?? '',
    text: (li.textContent ?? '').replace(/\s+/g, ' ').trim()
  })))
  t.same(shown.filter((e) => e.kind === 'step').map((e) => e.text), ['planner speaks', 'researcher speaks', 'writer speaks', 'user speaks', 'writer speaks', 'planner speaks'], 'a step per speaker')
  t.same(shown.filter((e) => e.kind === 'message').map((e) => e.label), ['you', 'planner', 'researcher', 'writer', 'user', 'writer', 'planner'], 'the messages, under their agents\' names (the human\'s answer under user)')
  t.same(shown.filter((e) => e.kind === 'tool_call').map((e) => [e.label, JSON.parse(e.text)]), [['calls search_notes', { topic: TASK }]], 'the tool call and its arguments')
  t.match(shown.find((e) => e.kind === 'tool_result')?.text, /^Notes on "Plan a weekend in Lisbon"/)
  t.equal(shown.filter((e) => e.kind === 'thought').length, 1, "the researcher's thought")
  t.ok(shown.some((e) => e.kind === 'message' && e.label === 'writer' && e.text.includes(`"${REPLY}"`)), 'the writer quotes the answer')
  t.match(shown.at(-1)?.text, /APPROVE$/, 'the planner approves, which ends the run')

  const events = await page.evaluate(() => window.agUi.events)
  t.equal(events[0]?.type, 'RUN_STARTED')
  t.match(events.at(-1), { type: 'RUN_FINISHED', outcome: { type: 'success' } })
  t.same(await protocolErrors(events), [], 'what the page got passes EventSchemas and verifyEvents')
  t.same(watched.problems, [], 'no console error, page error, failed request or HTTP error')
})
