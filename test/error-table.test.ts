import t from 'tap'
import { ErrorTable, RunError } from '../lib/index.js'
import * as errors from '../lib/errors.js'

t.test('one vocabulary: every code has the AGS_ prefix, a message, a status and a close code', async (t) => {
  for (const [code, entry] of Object.entries(ErrorTable)) {
    t.match(code, /^AGS_[A-Z_]+$/, code)
    t.ok(entry.message.length > 0 && entry.status >= 400 && entry.status < 600, `${code}: message and status`)
    t.ok(entry.close === 0 || (entry.close >= 1000 && entry.close < 5000), `${code}: close code`)
  }
})

t.test('what the client got wrong is a 4xx, what the server failed at a 5xx', async (t) => {
  const client = ['AGS_BAD_JSON', 'AGS_BAD_FRAME', 'AGS_BINARY_FRAME', 'AGS_FRAME_TOO_LARGE', 'AGS_TOO_MANY_BAD_FRAMES', 'AGS_TOO_MANY_RUNS',
    'AGS_DUPLICATE_RUN_ID', 'AGS_UNKNOWN_RUN', 'AGS_UNKNOWN_REQUEST', 'AGS_UNSUPPORTED_PROTOCOL', 'AGS_BAD_REQUEST', 'AGS_IMAGE_TOO_LARGE'] as const
  for (const code of client) t.ok(ErrorTable[code].status < 500, `${code} is ${ErrorTable[code].status}`)
  for (const code of ['AGS_RUNNER_ERROR', 'AGS_TASK_ERROR', 'AGS_FACTORY_ERROR', 'AGS_WORKER_DIED', 'AGS_INVALID_OPTION'] as const) {
    t.ok(ErrorTable[code].status >= 500, `${code} is ${ErrorTable[code].status}`)
  }
})

t.test('an error carries its code, its formatted message and its status together', async (t) => {
  const err = new errors.TooManyRunsError(4)
  t.same([err.code, err.message, err.statusCode], ['AGS_TOO_MANY_RUNS', 'This connection already has 4 active runs (maxRunsPerConnection)', 429])
  const run = RunError.of('AGS_LINE_TOO_LONG', [65536])
  t.ok(run instanceof RunError)
  t.same([run.code, run.message], ['AGS_LINE_TOO_LONG', 'The worker sent a message longer than maxLineBytes (65536 bytes)'])
  t.equal(RunError.of('AGS_WORKER_DIED').message, ErrorTable.AGS_WORKER_DIED.message)
})
