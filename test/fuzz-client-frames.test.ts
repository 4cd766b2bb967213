/*
 * Property-based fuzzing of client frames against a real server, once with a
 * JS runner and once with the Python runner (test/fixtures/fuzz.ts has the
 * model, the runners and the invariants).
 *
 * Random sequences of start/cancel/stop/input/detach/attach/list frames with
 * colliding runIds, invalid frames of every kind, pauses, closes and cuts,
 * over 2-4 connections speaking protocol v2 or v1, against a server with
 * onDisconnect 'continue' or 'cancel' (one server per mode). After each
 * case: the server is alive (a fresh connection runs to a result); every run
 * a connection saw started at seq 0, went on without a gap (v2: a merged
 * token frame covers seq - chunks + 1 .. seq; a gap only right before the
 * terminal frame of a connection the server closed itself), resumed after an
 * attach exactly where it was left, and got exactly one terminal frame,
 * nothing after it; no frame reached a connection that did not start its
 * run; every start, invalid frame, attach, detach and list got its answer;
 * the registry and the connection count are back to zero (runs nobody reads
 * are abandoned after the server's short detachTimeout), no listener is left
 * on a run's signals, the Python workers hold no run and none of them died.
 *
 * Environment:
 *   FUZZ_SEED, FUZZ_PATH   replay a failure (with FUZZ_ONLY, the path is one property's)
 *   FUZZ_ONLY=js|python    run one property only
 *   FUZZ_RUNS              cases per property (default 150 JS, 80 Python); FUZZ_RUNS_JS, FUZZ_RUNS_PY
 *   FUZZ_GUARD_MS          hang guard of each wait (default 4000 JS, 10000 Python)
 *   FUZZ_SHRINK_MS         time allowed for shrinking after the first failure (default 15000 JS, 20000 Python)
 *   FUZZ_VERBOSE=1|2       fast-check's verbosity (lists the failures met while shrinking)
 */
import t from 'tap'
import fc from 'fast-check'
import { caseArb, closeEnv, makeEnv, newFigures, runCase, type Case, type Env, type Kind, type Mode } from './fixtures/fuzz.js'

function intFromEnv (name: string, fallback: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const value = Number(raw)
  if (!Number.isInteger(value)) throw new Error(`${name} must be an integer, got ${raw}`)
  return value
}

const only = process.env.FUZZ_ONLY
if (only !== undefined && only !== 'js' && only !== 'python') throw new Error(`FUZZ_ONLY must be js or python, got ${only}`)
const seed = intFromEnv('FUZZ_SEED', (Date.now() ^ Math.floor(Math.random() * 0x7fffffff)) | 0)
const path = process.env.FUZZ_PATH === '' ? undefined : process.env.FUZZ_PATH
if (path !== undefined && only === undefined) throw new Error('FUZZ_PATH belongs to one property: set FUZZ_ONLY=js or FUZZ_ONLY=python too')
const verbose = intFromEnv('FUZZ_VERBOSE', 0) as fc.VerbosityLevel

const defaults: Record<Kind, { runs: number, guardMs: number, shrinkMs: number, runsVar: string }> = {
  js: { runs: 150, guardMs: 4000, shrinkMs: 15_000, runsVar: 'FUZZ_RUNS_JS' },
  python: { runs: 80, guardMs: 10_000, shrinkMs: 20_000, runsVar: 'FUZZ_RUNS_PY' }
}

for (const kind of ['js', 'python'] as const) {
  t.test(`fuzzed client frames against a real server, ${kind} runner`, { skip: only !== undefined && only !== kind }, async (t) => {
    const d = defaults[kind]
    const numRuns = intFromEnv(d.runsVar, intFromEnv('FUZZ_RUNS', d.runs))
    const guardMs = intFromEnv('FUZZ_GUARD_MS', d.guardMs)
    const shrinkMs = intFromEnv('FUZZ_SHRINK_MS', d.shrinkMs)
    const figures = newFigures()
    // One server per onDisconnect mode, each kept across the cases of its mode.
    const envs: Partial<Record<Mode, Env>> = {}
    // A failed case may leave runs behind: the next case of its mode gets a fresh server.
    const dirty: Partial<Record<Mode, boolean>> = {}
    let caseNo = 0
    let servers = 0
    let firstFailure: { at: number, message: string } | undefined

    const property = fc.asyncProperty(caseArb(kind), async (c) => {
      // Shrinking a real server is slow: past the budget, the remaining candidates are skipped.
      if (firstFailure !== undefined && Date.now() - firstFailure.at > shrinkMs) fc.pre(false)
      let env = envs[c.mode]
      if (env === undefined || dirty[c.mode] === true) {
        if (env !== undefined) await closeEnv(env)
        env = envs[c.mode] = await makeEnv(kind, c.mode)
        servers++
        dirty[c.mode] = false
      }
      caseNo++
      try {
        await runCase(env, c, caseNo, { guardMs }, figures)
      } catch (err) {
        dirty[c.mode] = true
        firstFailure ??= { at: Date.now(), message: (err as Error).message }
        throw err
      }
    })

    const started = Date.now()
    let details: fc.RunDetails<[Case]>
    try {
      details = await fc.check(property, { numRuns, seed, path: only === kind ? path : undefined, verbose })
    } finally {
      for (const env of Object.values(envs)) await closeEnv(env)
    }
    const elapsed = Date.now() - started

    const outcome = details.failed ? `failed at case ${details.numRuns} of ${numRuns}, shrunk ${details.numShrinks} time(s)` : `${details.numRuns} case(s) passed`
    t.comment(`${kind}: ${outcome}; ${figures.cases} case(s) executed (shrinking included), ${servers} server(s) started, seed ${details.seed}, ${(elapsed / 1000).toFixed(1)} s`)
    t.comment(`${kind}: ${figures.startsSent} starts sent, ${figures.started} runs started, ${figures.invalidFrames} invalid frames sent, ${figures.framesReceived} frames received (${figures.mergedTokens} merged token frames)`)
    t.comment(`${kind}: cases by onDisconnect ${JSON.stringify(figures.modes)}; ${figures.v1Connections} v1 connection(s); attaches sent ${JSON.stringify(figures.attaches)}, answers: ${figures.attached} attached, ${figures.detached} detached, ${figures.lists} runs; ${figures.resent} input_request(s) sent again`)
    t.comment(`${kind}: terminal frames ${JSON.stringify(figures.terminals)}`)
    t.comment(`${kind}: connection errors ${JSON.stringify(figures.connErrors)}; closes ${JSON.stringify(figures.closes)}`)
    if (details.failed) {
      const error = details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance)
      t.comment(`${kind}: first failure met: ${firstFailure?.message ?? '(none recorded)'}`)
      t.comment(`${kind}: minimal counterexample: ${fc.stringify(details.counterexample)}`)
      t.comment(`${kind}: its failure: ${error}`)
      t.comment(`${kind}: replay with FUZZ_ONLY=${kind} FUZZ_SEED=${details.seed} FUZZ_PATH=${details.counterexamplePath ?? ''} npx tap test/fuzz-client-frames.test.ts`)
      t.fail(`${fc.defaultReportMessage(details) ?? `failed, seed ${details.seed}`}\nGot error: ${error}`)
    } else {
      t.pass(`${details.numRuns} cases, seed ${details.seed}`)
    }
  })
}
