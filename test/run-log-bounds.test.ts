import t from 'tap'
import fc from 'fast-check'
import { MemoryRunLog, MemoryRunStore } from '../lib/store/memory.js'
import { LogGapError, type LogLimits } from '../lib/store/types.js'
import type { RunFrame, TokenFrame } from '../lib/schemas/frames.js'

const token = (seq: number, text = 'x'.repeat(10)): RunFrame =>
  ({ type: 'token', runId: 'r', seq, source: 'a', full_message_id: 'm', text, chunks: 1 })

function limits (over: Partial<LogLimits> = {}): LogLimits {
  return { lagEvents: 8, lagBytes: 1 << 20, retainEvents: 4, retainBytes: 1 << 20, ...over }
}

t.test('the producer has credit only while the slowest reader is under maxRunLag', async (t) => {
  const log = new MemoryRunLog(limits())
  const fast = log.reader(-1, () => {})
  const slow = log.reader(-1, () => {})
  let credits = 0
  log.onCredit(() => { credits++ })
  let seq = 0
  while (log.hasCredit) log.append(token(seq++))
  t.equal(seq, 8, 'held after 8 unread entries')
  while (fast.take() !== undefined);
  fast.commit()
  t.equal(fast.position, 7)
  t.notOk(log.hasCredit, 'the fast reader does not free the slow one\'s lag')
  t.equal(credits, 0)
  slow.take()
  t.equal(credits, 0, 'a take alone tells the log nothing...')
  slow.commit()
  t.equal(credits, 1, '...its commit does: credit again once the slowest moved')
  t.ok(log.hasCredit)
  slow.close()
  t.ok(log.hasCredit, 'with the slow one gone, the fast one sets the pace')
})

t.test('with nobody attached, the furthest position read sets the lag', async (t) => {
  const log = new MemoryRunLog(limits())
  const reader = log.reader(-1, () => {})
  for (let seq = 0; seq < 5; seq++) log.append(token(seq))
  reader.take(); reader.take(); reader.take()
  reader.close() // what it took counts once it leaves
  t.same(log.lag, { events: 2, bytes: log.lag.bytes })
  let seq = 5
  while (log.hasCredit) log.append(token(seq++))
  t.equal(log.head, 2 + 8, 'held at the furthest position read + 8')
})

t.test('read entries beyond retainEvents/retainBytes are trimmed; unread and the terminal never are; gaps are told', async (t) => {
  const log = new MemoryRunLog(limits({ lagEvents: 100, retainEvents: 3 }))
  const reader = log.reader(-1, () => {})
  for (let seq = 0; seq < 10; seq++) log.append(token(seq))
  t.equal(log.oldest, 0, 'nothing read: nothing trimmed')
  for (let i = 0; i < 6; i++) reader.take()
  reader.commit()
  t.equal(log.oldest, 3, 'read 0..5, the last 3 kept')
  t.throws(() => log.reader(1, () => {}), { message: 'entries after seq 1 are no longer kept; the oldest is 3', oldest: 3, head: 9 })
  const from2 = log.reader(2, () => {})
  t.equal(from2.take()?.seq, 3, 'a resume right at the edge is exact')
  from2.close()
  const all = log.reader(-1, () => {})
  t.equal(all.take()?.seq, 3, '-1 reads from the oldest kept')
  all.close()
  log.append({ type: 'result', runId: 'r', seq: 10, result: { type: 'TaskResult', messages: [], stop_reason: null } } as RunFrame)
  while (reader.take() !== undefined);
  reader.close()
  let gap: unknown
  try { log.reader(0, () => {}) } catch (err) { gap = err }
  t.ok(gap instanceof LogGapError)
  t.equal((gap as LogGapError).terminal?.type, 'result', 'the gap error carries how the run ended')
  t.equal(log.terminal?.seq, 10)
})

t.test('bytes held: the store counts what its logs keep, and dropping a log frees it', async (t) => {
  const store = new MemoryRunStore()
  const log = store.create('k', limits({ retainEvents: 0, retainBytes: 0, lagEvents: 100 }))
  const reader = log.reader(-1, () => {})
  for (let seq = 0; seq < 4; seq++) log.append(token(seq))
  t.equal(store.bytes, log.bytes)
  t.ok(store.bytes > 0)
  reader.take(); reader.take()
  reader.commit()
  t.equal(log.oldest, 2, 'nothing retained: read entries go')
  t.equal(store.bytes, log.bytes)
  store.drop('k')
  t.equal(store.bytes, 0)
})

t.test('property: whatever the readers do, memory stays within lag + tail, and every reader sees each seq once, in order, but for gaps it was told of', async (t) => {
  const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31)
  t.comment(`seed ${seed} (FUZZ_SEED=${seed} to replay)`)
  const property = fc.property(
    fc.record({ lagEvents: fc.integer({ min: 1, max: 20 }), retainEvents: fc.integer({ min: 0, max: 10 }), retainBytes: fc.integer({ min: 0, max: 400 }) }),
    fc.array(fc.oneof(fc.constant<['produce']>(['produce']), fc.tuple(fc.constant('read' as const), fc.integer({ min: 0, max: 2 }), fc.integer({ min: 1, max: 8 })),
      fc.tuple(fc.constant('reattach' as const), fc.integer({ min: 0, max: 2 }))), { maxLength: 200 }),
    (lim, ops) => {
      const log = new MemoryRunLog({ lagBytes: 1 << 20, ...lim })
      const readers = [0, 1, 2].map(() => log.reader(-1, () => {}))
      const seen: number[][] = [[], [], []]
      /** Per reader: seq resumed from after a gap -> the position it had. */
      const jumps = [new Map<number, number>(), new Map<number, number>(), new Map<number, number>()]
      let seq = 0
      for (const op of ops) {
        if (op[0] === 'produce') {
          if (log.hasCredit) log.append(token(seq++, 'y'.repeat(seq % 7)))
        } else if (op[0] === 'read') {
          for (let i = 0; i < op[2]; i++) {
            const e = readers[op[1]]?.take()
            if (e === undefined) break
            seen[op[1]]?.push(e.seq)
          }
          readers[op[1]]?.commit()
        } else {
          const old = readers[op[1]] as ReturnType<typeof log.reader>
          const position = old.position
          old.close()
          try {
            const again = log.reader(position, () => {}) // resume from the last seq seen
            readers[op[1]] = again
            // -1 (nothing seen yet) reads from the oldest kept, which may be past 0.
            if (again.position !== position) jumps[op[1]]?.set(again.position + 1, position)
          } catch (err) {
            // Others read on and the tail was trimmed past it: told exactly where what is kept starts.
            if (!(err instanceof LogGapError) || err.oldest <= position + 1 || err.oldest !== log.oldest) throw err
            readers[op[1]] = log.reader(-1, () => {})
            jumps[op[1]]?.set(err.oldest, position)
          }
        }
        const unread = log.lag.events
        if (unread > lim.lagEvents) throw new Error(`unread ${unread} > lag bound ${lim.lagEvents}`)
        const kept = log.head - log.oldest + 1
        if (kept > unread + Math.max(lim.retainEvents, 0) + 1) throw new Error(`kept ${kept} entries > unread ${unread} + tail ${lim.retainEvents}`)
      }
      seen.forEach((s, r) => {
        let last = -1
        for (const v of s) {
          // Each seq once, in order; a jump only where a gap was told, to exactly the oldest kept then.
          if (v !== last + 1 && jumps[r]?.get(v) !== last) throw new Error(`reader ${r} saw ${s.join(',')}`)
          last = v
        }
      })
    })
  fc.assert(property, { seed, numRuns: 300 })
  t.pass('300 cases')
})

t.test('tokens are kept as their texts, other frames as their bytes once read; a replay gets the same frames back', async (t) => {
  const log = new MemoryRunLog(limits({ lagEvents: 100, retainEvents: 100 }))
  const reader = log.reader(-1, () => {})
  const event = { type: 'event', runId: 'r', seq: 2, event: { type: 'TextMessage', source: 'a', content: 'x ✓' } } as unknown as RunFrame
  // A token of another shape (two chunks) is kept like any other frame.
  const twoChunks = { ...token(5, 'merged'), chunks: 2 } as RunFrame
  const frames = [token(0, 'text 0 ✓'), token(1, 'te"xt\n 1'), event, token(3, 'a'), { ...token(4, 'b'), source: 'other' } as RunFrame, twoChunks, token(6, '😀')]
  for (const frame of frames) log.append(frame)
  const peeker = log.reader(-1, () => {})
  t.same(peeker.peek()?.frame, frames[0], 'a token: a frame made from its text and message')
  for (let i = 0; i < 2; i++) peeker.take()
  t.equal(peeker.peek()?.frame, event, 'another frame, unread: the frame object itself')
  peeker.close()
  const sent: string[] = []
  for (let e = reader.take(); e !== undefined; e = reader.take()) sent.push(e.data.toString())
  t.same(sent, frames.map((f) => JSON.stringify(f)), 'each sent alone: JSON.stringify\'s bytes')
  reader.commit()
  const replay = log.reader(-1, () => {})
  const again: RunFrame[] = []
  for (let e = replay.take(); e !== undefined; e = replay.take()) again.push(e.frame)
  t.same(again, frames, 'the same frames again')
  t.not(again[2], event, 'a frame every reader passed: parsed from its bytes, the object let go')
  t.equal(log.bytes, frames.reduce((n, f) => n + Buffer.byteLength(JSON.stringify(f)), 0), 'counted as JSON.stringify\'s bytes')
})

t.test('a reader merging a message\'s tokens takes them as texts, up to the room given, and stops at another message or frame', async (t) => {
  const log = new MemoryRunLog(limits({ lagEvents: 100, retainEvents: 100 }))
  // A lone surrogate is kept as a string (its UTF-8 bytes would not decode to it); the others as bytes.
  const frames: RunFrame[] = [token(0, 'ab'), token(1, 'cd'), token(2, 'é\ud800'), token(3, '😀'), { ...token(4, 'h'), full_message_id: 'other' } as RunFrame, token(5, 'i')]
  for (const frame of frames) log.append(frame)
  const reader = log.reader(-1, () => {})
  const first = reader.take()?.frame as TokenFrame
  t.same(reader.takeMergeable?.(first, 3), { text: 'cd', count: 1 }, 'cd fits in 3, cd + é\\ud800 does not')
  t.equal(reader.position, 1)
  t.equal(reader.takeMergeable?.(first, 1), undefined, 'é\\ud800 does not fit in 1: nothing taken')
  t.equal(reader.position, 1)
  t.same(reader.takeMergeable?.(first, 100), { text: 'é\ud800😀', count: 2 }, 'up to the next message')
  t.equal(reader.position, 3)
  t.equal(reader.takeMergeable?.(first, 100), undefined, 'another message')
  t.equal(reader.take()?.seq, 4)
  t.equal(reader.take()?.frame.type, 'token')
})

t.test('token texts kept as bytes come back the same across the arena\'s chunks, long and short, as the log is trimmed', async (t) => {
  const log = new MemoryRunLog(limits({ lagEvents: 10_000, retainEvents: 50 }))
  const texts = Array.from({ length: 600 }, (_, i) => i % 97 === 0 ? 'x'.repeat(5000 + i) : `t${i} ✓ "q" 😀`)
  const reader = log.reader(-1, () => {})
  const got: string[] = []
  for (let seq = 0; seq < texts.length; seq++) {
    log.append(token(seq, texts[seq] as string))
    // Read as it goes, merging what waits: the tail is trimmed and the arena's chunks let go behind it.
    if (seq % 7 === 6) {
      for (let e = reader.take(); e !== undefined; e = reader.take()) {
        const frame = e.frame as TokenFrame
        got.push(frame.text)
        const more = reader.takeMergeable?.(frame, 3 * 5000)
        if (more !== undefined) got.push(more.text)
      }
      reader.commit()
    }
  }
  for (let e = reader.take(); e !== undefined; e = reader.take()) got.push((e.frame as TokenFrame).text)
  t.equal(got.join(''), texts.join(''), 'every text, in order')
  const replay = log.reader(log.oldest - 1, () => {})
  const tail: string[] = []
  for (let e = replay.take(); e !== undefined; e = replay.take()) tail.push((e.frame as TokenFrame).text)
  t.same(tail, texts.slice(log.oldest), 'the tail, from its bytes')
})
