import { readFileSync } from 'node:fs'
import t from 'tap'
// @ts-expect-error a plain .mjs script without declarations
import { clientSize } from '../scripts/client-size.mjs'

/*
 * The README states the client's size (bundled for the browser, minified,
 * gzip -9). Bundling with platform 'browser' also fails if any module of
 * the client reaches a Node built-in.
 */

t.test('the README states the client\'s size as built', async (t) => {
  const size = await clientSize() as { minified: number, gzipped: number }
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')
  const stated = /\*\*([\d,]+) bytes,\s+([\d,]+) gzipped\*\*/.exec(readme)
  t.ok(stated, 'the README has the figure')
  const [minified, gzipped] = [stated?.[1], stated?.[2]].map((n) => Number(String(n).replaceAll(',', '')))
  t.same({ minified, gzipped }, size, `README: update the line to **${size.minified.toLocaleString('en')} bytes, ${size.gzipped.toLocaleString('en')} gzipped**`)
})
