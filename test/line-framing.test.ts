import t, { type Test } from 'tap'
import { deepStrictEqual, ok } from 'node:assert'
import fc from 'fast-check'
import { LineSplitter, OVERFLOW_PREFIX_BYTES, runOfLine } from '../lib/python/lines.js'

interface Out { lines: string[], overflows: Array<{ prefix: string, bytes: number }> }

function split (chunks: Buffer[], max: number): Out {
  const out: Out = { lines: [], overflows: [] }
  const splitter = new LineSplitter(max, {
    onLine: (line) => out.lines.push(line.toString('latin1')),
    onOverflow: (prefix, bytes) => out.overflows.push({ prefix: prefix.toString('latin1'), bytes })
  })
  for (const chunk of chunks) splitter.push(chunk)
  return out
}

/** What the framing must give: non-empty lines up to max bytes; longer ones reported, never delivered. */
function expected (text: string, max: number): Out {
  const parts = text.split('\n')
  const tail = parts.pop() as string
  const out: Out = { lines: [], overflows: [] }
  for (const line of parts) {
    if (line.length === 0) continue
    if (line.length <= max) out.lines.push(line)
    else out.overflows.push({ prefix: line.slice(0, OVERFLOW_PREFIX_BYTES), bytes: -1 })
  }
  // An unterminated tail is not a line yet, but one already too long is reported at once.
  if (tail.length > max) out.overflows.push({ prefix: tail.slice(0, OVERFLOW_PREFIX_BYTES), bytes: -1 })
  return out
}

/** fast-check's report (seed, path, counterexample) as the failure message, so a CI log can be replayed. */
function property (t: Test, run: () => void): void {
  try {
    run()
    t.pass('property held')
  } catch (err) {
    t.fail((err as Error).message)
  }
}

t.test('any text cut into any chunks frames into the same lines; overlong lines are reported with their start', async (t) => {
  const line = fc.string({ unit: fc.constantFrom('a', 'b', '{', '"', 'é'), maxLength: 40 })
  property(t, () => fc.assert(fc.property(
    fc.array(line, { maxLength: 20 }), fc.boolean(), fc.array(fc.nat({ max: 60 }), { maxLength: 30 }), fc.integer({ min: 1, max: 30 }),
    (lines, terminated, cuts, max) => {
      const text = lines.join('\n') + (terminated ? '\n' : '')
      const bytes = Buffer.from(text, 'latin1')
      const chunks: Buffer[] = []
      let at = 0
      for (const cut of cuts) {
        const end = Math.min(bytes.length, at + cut)
        chunks.push(bytes.subarray(at, end))
        at = end
      }
      chunks.push(bytes.subarray(at))
      const got = split(chunks, max)
      const want = expected(text, max)
      deepStrictEqual(got.lines, want.lines)
      deepStrictEqual(got.overflows.length, want.overflows.length)
      // Reported as soon as the line passes max: with what of it has arrived so far (more than max bytes).
      got.overflows.forEach((o, i) => {
        ok(o.bytes > max && o.prefix.length > Math.min(max, OVERFLOW_PREFIX_BYTES - 1))
        ok(want.overflows[i]?.prefix.startsWith(o.prefix))
      })
    }
  ), { numRuns: 500 }))
})

t.test('a 32 MiB line in 64 KiB chunks: reported once as overlong, then the next line is delivered', async (t) => {
  const max = 16 * 1024 * 1024
  const out = split([], max)
  const splitter = new LineSplitter(max, {
    onLine: (line) => out.lines.push(line.toString()),
    onOverflow: (prefix, bytes) => out.overflows.push({ prefix: prefix.toString(), bytes })
  })
  const head = Buffer.from('{"ev":"item","run":"key-1","item":"')
  splitter.push(head)
  const chunk = Buffer.alloc(64 * 1024, 0x61)
  for (let i = 0; i < 512; i++) splitter.push(chunk)
  splitter.push(Buffer.from('"}\n{"ev":"end","run":"key-2"}\n'))
  t.equal(out.overflows.length, 1)
  t.ok((out.overflows[0]?.bytes ?? 0) > max)
  t.equal(out.overflows[0]?.prefix.length, OVERFLOW_PREFIX_BYTES)
  t.equal(runOfLine(out.overflows[0]?.prefix ?? ''), 'key-1', 'the overlong line still names its run')
  t.same(out.lines, ['{"ev":"end","run":"key-2"}'])
})

t.test('runOfLine reads the run of lines in the order both sides write them, and nothing else', async (t) => {
  t.equal(runOfLine('{"ev":"item","run":"3f0c-uuid","item":{'), '3f0c-uuid')
  t.equal(runOfLine('{"op":"start","run":"k1","run_id":"r1"'), 'k1')
  t.equal(runOfLine('{"run":"k1","ev":"item"'), undefined)
  t.equal(runOfLine('{"ev":"item","run":"bad\\"quote"'), undefined)
  t.equal(runOfLine('garbage'), undefined)
})
