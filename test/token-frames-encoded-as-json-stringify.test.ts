/*
 * The run log writes token frames with FrameEncoder (lib/encode.ts), which
 * keeps the JSON of the parts that repeat. Its bytes must be
 * JSON.stringify's for every frame, whatever the text (quotes, backslashes,
 * control characters, lone surrogates, astral characters), the ids and the
 * order in which runs, sources and messages alternate. The log counts a
 * token's bytes without encoding it (FrameEncoder.size: a chunk that goes
 * out merged is never encoded alone): that count must be those bytes'.
 *
 * FC_SEED=<seed> replays a run of cases; the seed is printed either way.
 */
import t from 'tap'
import fc from 'fast-check'
import { FrameEncoder } from '../lib/encode.js'
import type { RunFrame, TokenFrame } from '../lib/index.js'

const text = fc.oneof(
  fc.string({ unit: 'binary' }),
  fc.string({ unit: 'grapheme' }),
  fc.constantFrom('', '"', '\\', '\n', '\u0000', '\u2028', '\ud800', '\udc00x', '😀', '</script>')
)
const id = fc.oneof(fc.constantFrom('r1', 'm1', 'assistant', 'a"b', 'é'), fc.string({ unit: 'binary', maxLength: 12 }))

const token = fc.record({
  runId: id,
  seq: fc.nat(),
  source: id,
  full_message_id: fc.option(id, { nil: null }),
  text,
  chunks: fc.integer({ min: 1, max: 1024 })
}).map((f): TokenFrame => ({ type: 'token', runId: f.runId, seq: f.seq, source: f.source, full_message_id: f.full_message_id, text: f.text, chunks: f.chunks }))

t.test('a run\'s token frames encode to JSON.stringify\'s bytes, in any order of runs, sources and messages', async (t) => {
  const seed = process.env.FC_SEED === undefined ? Date.now() ^ (Math.random() * 0x100000000) : Number(process.env.FC_SEED)
  t.comment(`seed ${seed} (replay: FC_SEED=${seed})`)
  const property = fc.property(fc.array(token, { minLength: 1, maxLength: 40 }), (frames) => {
    const encoder = new FrameEncoder()
    for (const frame of frames) {
      const got = encoder.encode(frame)
      if (got !== JSON.stringify(frame)) throw new Error(`${JSON.stringify(got)} is not ${JSON.stringify(JSON.stringify(frame))}`)
    }
    // Sizes asked in another order than the encodes, on a fresh encoder: its cached parts must not leak between frames.
    const sizer = new FrameEncoder()
    for (const frame of [...frames].reverse()) {
      const size = sizer.size(frame)
      const bytes = Buffer.byteLength(JSON.stringify(frame))
      // undefined: the text needs escaping, and the log encodes it to count it.
      if (size !== undefined && size !== bytes) throw new Error(`size ${size} of ${JSON.stringify(frame)} is not ${bytes}`)
      // eslint-disable-next-line no-control-regex
      if (size === undefined && !/["\\\u0000-\u001f\ud800-\udfff]/.test(frame.text)) throw new Error(`no size for ${JSON.stringify(frame)}, whose text needs no escaping`)
    }
  })
  const details = fc.check(property, { numRuns: 500, seed })
  if (details.failed) t.fail(fc.defaultReportMessage(details) ?? `failed, seed ${details.seed}`)
  else t.pass(`${details.numRuns} cases, seed ${details.seed}`)
})

t.test('frames of other types and token frames of another shape are JSON.stringify\'s too', async (t) => {
  const encoder = new FrameEncoder()
  const frames = [
    { type: 'started', runId: 'r1', seq: 0 },
    { type: 'event', runId: 'r1', seq: 1, event: { type: 'TextMessage', source: 'a', content: 'x' } },
    // A runner's chunk without a source: JSON leaves the key out.
    { type: 'token', runId: 'r1', seq: 2, source: undefined, full_message_id: null, text: 'x', chunks: 1 },
    { type: 'token', runId: 'r1', seq: 3, source: 'a', full_message_id: 7, text: 'y', chunks: 1 },
    { type: 'token', runId: 'r1', seq: 4, source: 'a', full_message_id: 'm', text: 'z', chunks: 1 },
    { type: 'result', runId: 'r1', seq: 5, result: { type: 'TaskResult', messages: [], stop_reason: null } }
  ] as unknown as RunFrame[]
  t.same(frames.map((f) => encoder.encode(f)), frames.map((f) => JSON.stringify(f)))
  // Only a token frame of the usual shape is counted without encoding.
  t.same(frames.map((f) => encoder.size(f)), [undefined, undefined, undefined, undefined, Buffer.byteLength(JSON.stringify(frames[4])), undefined])
})
