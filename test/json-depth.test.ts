import t from 'tap'
import fc from 'fast-check'
import { nestsDeeperThan } from '../lib/json-depth.js'

function depthOf (value: unknown): number {
  if (Array.isArray(value)) return 1 + Math.max(0, ...value.map(depthOf))
  if (typeof value === 'object' && value !== null) return 1 + Math.max(0, ...Object.values(value).map(depthOf))
  return 0
}

t.test('nestsDeeperThan agrees with the parsed value\'s depth for any JSON, strings full of brackets included', async (t) => {
  try {
    fc.assert(fc.property(
      fc.json({ depthSize: 'large', maxDepth: 12 }), fc.integer({ min: 0, max: 14 }),
      (text, max) => nestsDeeperThan(text, max) === (depthOf(JSON.parse(text)) > max)
    ), { numRuns: 2000 })
    t.pass('2,000 cases agree')
  } catch (err) {
    t.fail((err as Error).message) // fast-check's report: seed, path and the counterexample
  }
  t.equal(nestsDeeperThan('{"a":"[[[[{{{{\\"[[["}', 1), false, 'brackets and escaped quotes inside strings are text')
  t.equal(nestsDeeperThan('[[[1]]]', 2), true)
  t.equal(nestsDeeperThan('[[[1]]]', 3), false)
})
