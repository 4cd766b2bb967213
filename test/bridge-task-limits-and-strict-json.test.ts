import t from 'tap'
import { deflateSync } from 'node:zlib'
import { startServer, Client, waitFor } from './fixtures/server.js'
import { examplesRunner, workerStats } from './fixtures/python.js'
import type { EventFrame, RunErrorFrame } from '../lib/index.js'

function crc32 (data: Buffer): number {
  let crc = -1
  for (const byte of data) {
    crc ^= byte
    for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1))
  }
  return (crc ^ -1) >>> 0
}

function pngChunk (type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4)
  length.writeUInt32BE(data.length)
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data])
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(body))
  return Buffer.concat([length, body, crc])
}

/** A real, valid 1-bit greyscale PNG: a few KB that decode to width × height pixels. */
function blankPng (width: number, height: number): Buffer {
  const header = Buffer.alloc(13)
  header.writeUInt32BE(width, 0)
  header.writeUInt32BE(height, 4)
  header.writeUInt8(1, 8) // bit depth
  header.writeUInt8(0, 9) // greyscale
  const row = Buffer.alloc(1 + Math.ceil(width / 8)) // filter byte + pixels, all zero
  const pixels = deflateSync(Buffer.concat(Array.from({ length: height }, () => row)), { level: 9 })
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', header), pngChunk('IDAT', pixels), pngChunk('IEND', Buffer.alloc(0))
  ])
}

t.test('task images over the limits, items over the line limit, NaN in items: clear outcomes, the worker goes on', async (t) => {
  const runner = examplesRunner({ workers: 1, maxLineBytes: 256 * 1024 })
  const { app, url } = await startServer({ runner, maxPayload: 1 << 20 })
  t.after(() => app.close())
  const c = await Client.connect(url)
  t.after(() => c.close())
  await runner.ready()
  const [pid] = runner.pids

  // 8000 × 8000 pixels in about 10 KB: decoding it used to cost the worker 271 MiB and 1.4 s.
  const bomb = blankPng(8000, 8000).toString('base64')
  t.ok(bomb.length < 64 * 1024, `the image is ${bomb.length} bytes of base64`)
  c.send({ type: 'start', runId: 'img', task: { type: 'MultiModalMessage', content: ['what is this?', { data: bomb }] }, options: { example: 'streaming_agent' } })
  const img = await c.untilEnded('img')
  t.same(img.map((f) => f.type), ['started', 'error'])
  t.same([(img.at(-1) as RunErrorFrame).code, (img.at(-1) as RunErrorFrame).message],
    ['AGS_IMAGE_TOO_LARGE', 'task image 1 is 8000x8000 pixels; the limit is 16777216 (maxImagePixels)'])

  c.send({ type: 'start', runId: 'small-img', task: { type: 'MultiModalMessage', content: ['ok?', { data: blankPng(64, 64).toString('base64') }] }, options: { example: 'streaming_agent' } })
  t.equal((await c.untilEnded('small-img')).at(-1)?.type, 'result', 'a small image goes through')

  c.send({ type: 'start', runId: 'big', task: 'x', options: { test_factory: 'big_item', size: 300 * 1024 } })
  const big = await c.untilEnded('big')
  t.same(big.map((f) => f.type), ['started', 'event', 'error'], 'the small item, then the error instead of the big one')
  t.equal((big.at(-1) as RunErrorFrame).code, 'AGS_ITEM_TOO_LARGE')

  c.send({ type: 'start', runId: 'nan', task: 'x', options: { test_factory: 'custom_items' } })
  const nan = await c.untilEnded('nan')
  t.same(nan.map((f) => f.type), ['started', 'event', 'result'], 'nothing vanished')
  t.same((nan[1] as EventFrame).event, { type: 'Custom', x: null, nested: [null, { y: null }], ok: 1.5 })

  t.equal(runner.pids[0], pid, 'the same worker served all of it')
  await waitFor(() => runner.loads[0] === 0)
  t.equal((await workerStats(runner))[0]?.active, 0)
})
