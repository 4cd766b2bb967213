/*
 * The package as a user installs it, end to end: `npm pack` this repository,
 * install the tarball into a fresh app (with fastify 5 from the registry),
 * type-check a TypeScript consumer against the packed declarations, see
 * app.ready() refuse a Python without the bridge (AGS_PYTHON_NOT_READY, naming
 * the interpreter and the set-up command), run the shipped
 * `npx fastify-autogen-stream setup-python` (a .venv with the bridge and
 * AutoGen from PyPI), then start the app's own server on its own factory
 * module and stream a run to its result over a WebSocket, raw and through
 * the packed `fastify-autogen-stream/client`.
 *
 * Fixtures: test/fixtures/consumer/ (my_agents.py, server.mjs, client.mjs, consumer.ts,
 * tsconfig.json). Everything happens in a temporary directory, removed
 * after. The build in dist/ must be there (npm test builds first): packing
 * runs no scripts. Every child gets a user's environment: nothing of the npm,
 * tap or Python venv this test may run under.
 */
import t, { type Test } from 'tap'
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { delimiter, dirname, join, relative } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { EventFrame, ResultFrame, TokenFrame } from '../lib/index.js'
import { Client } from './fixtures/server.js'

// pip installs AutoGen and its dependencies into a fresh venv: about half a
// minute with pip's cache, longer without. The whole file takes about a
// minute and a half with warm caches.
t.setTimeout(600_000)

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const fixtures = join(root, 'test', 'fixtures', 'consumer')
const repoManifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string, version: string }
const SETUP = 'npx fastify-autogen-stream setup-python'
/** The app's factory answers this sentence (my_agents.py is the one source of it). */
const ANSWER = /^ANSWER = "(.+)"$/m.exec(readFileSync(join(fixtures, 'my_agents.py'), 'utf8'))?.[1] ?? ''
/** AutoGen's pin in the bridge's project: what setup-python must install. */
const AGENTCHAT = /"autogen-agentchat==([^"]+)"/.exec(readFileSync(join(root, 'python', 'pyproject.toml'), 'utf8'))?.[1]

/** A user's shell: no npm script, tap, coverage loader or activated venv around the child. */
function userEnv (extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^(npm_|tap_|_tapjs|node_options$|node_v8_coverage$|init_cwd$|pythonpath$|pythonhome$|virtual_env$)/i.test(key)) env[key] = value
  }
  const venv = process.env.VIRTUAL_ENV
  if (venv !== undefined && env.PATH !== undefined) env.PATH = env.PATH.split(delimiter).filter((p) => p !== join(venv, 'bin')).join(delimiter)
  return { ...env, PIP_DISABLE_PIP_VERSION_CHECK: '1', NO_UPDATE_NOTIFIER: '1', ...extra }
}

interface Done { code: number | null, signal: NodeJS.Signals | null, stdout: string, stderr: string, ms: number }

const children = new Set<ChildProcessWithoutNullStreams>()

function start (cmd: string, args: string[], cwd: string, extraEnv?: Record<string, string>): ChildProcessWithoutNullStreams {
  const child = spawn(cmd, args, { cwd, env: userEnv(extraEnv), stdio: 'pipe' })
  children.add(child)
  child.once('close', () => children.delete(child))
  return child
}

/**
 * Resolves when the child has exited and its output is read; a child still
 * running after `limit` ms is killed (and its result says so). The limit is a
 * guard against a hang, never a wait for something to happen.
 */
async function finished (child: ChildProcessWithoutNullStreams, limit: number): Promise<Done & { killed: boolean }> {
  const begin = Date.now()
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d })
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  // Read to the end even after a readline on stdout has paused it: 'close' waits for both.
  child.stdout.resume()
  child.stderr.resume()
  let killed = false
  const guard = setTimeout(() => { killed = true; child.kill('SIGKILL') }, limit)
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve([child.exitCode, child.signalCode])
    else child.once('close', (c, s) => resolve([c, s]))
  })
  clearTimeout(guard)
  return { code, signal, stdout, stderr, ms: Date.now() - begin, killed }
}

async function run (cmd: string, args: string[], cwd: string, limit: number, extraEnv?: Record<string, string>): Promise<Done & { killed: boolean }> {
  return await finished(start(cmd, args, cwd, extraEnv), limit)
}

const tail = (text: string, lines = 30): string => text.trimEnd().split('\n').slice(-lines).join('\n')
const why = (r: Done): string => `exit ${String(r.code)}${r.signal !== null ? ` (${r.signal})` : ''}\n--- stdout\n${tail(r.stdout)}\n--- stderr\n${tail(r.stderr)}`

const tmp = realpathSync(mkdtempSync(join(tmpdir(), 'ags-install-')))
const app = join(tmp, 'app')
t.teardown(() => {
  for (const child of children) child.kill('SIGKILL')
  rmSync(tmp, { recursive: true, force: true })
})

/**
 * Each step needs the blocking ones before it: one that cannot run fails,
 * naming the step that broke (nothing is skipped silently).
 */
let broken: string | undefined
async function step (name: string, fn: (t: Test) => Promise<void>, { blocking = true } = {}): Promise<void> {
  await t.test(name, async (t) => {
    if (broken !== undefined) {
      t.fail(`not run: "${broken}" failed`)
      return
    }
    const begin = Date.now()
    try {
      await fn(t)
    } catch (err) {
      t.error(err, `${name} threw`)
    } finally {
      t.comment(`${name}: ${((Date.now() - begin) / 1000).toFixed(1)} s`)
      if (blocking && !t.passing()) broken = name
    }
  })
}

/** Asserts a clean exit; the output is shown only when it was not. */
function exitedZero (t: Test, r: Done & { killed: boolean }, what: string): boolean {
  const ok = r.code === 0 && !r.killed
  t.ok(ok, ok ? `${what} exits 0` : `${what}${r.killed ? ' (killed: it hung)' : ''}: ${why(r)}`)
  return ok
}

let tarball = ''

await step('npm pack', async (t) => {
  t.ok(existsSync(join(root, 'dist', 'index.js')), 'dist/ is built (npm run build)')
  const r = await run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', tmp], root, 60_000)
  exitedZero(t, r, 'npm pack')
  const [pack] = JSON.parse(r.stdout) as Array<{ filename: string }>
  tarball = join(tmp, pack?.filename ?? '')
  t.ok(pack !== undefined && existsSync(tarball), `the tarball is there: ${tarball}`)
})

await step('a fresh app installs the tarball', async (t) => {
  mkdirSync(app)
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'ags-fresh-app', version: '1.0.0', private: true, type: 'module' }, null, 2))
  for (const file of readdirSync(fixtures)) copyFileSync(join(fixtures, file), join(app, file))
  const r = await run('npm', ['install', '--no-audit', '--no-fund', 'fastify@5', 'ws', 'typescript@~5.9', '@types/node@20', tarball], app, 240_000)
  exitedZero(t, r, 'npm install')
  const installed = join(app, 'node_modules', 'fastify-autogen-stream')
  const manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')) as { name: string, version: string }
  t.same([manifest.name, manifest.version], [repoManifest.name, repoManifest.version], 'this repository\'s package is installed')
  t.ok(existsSync(join(app, 'node_modules', '.bin', 'fastify-autogen-stream')), 'npm linked the bin fastify-autogen-stream (package.json "bin")')
  t.notOk(existsSync(join(installed, '.venv')), 'no venv came with the package')
})

await step('a TypeScript app compiles against the packed types (tsc --noEmit)', async (t) => {
  const r = await run('npx', ['--no', '--', 'tsc', '--noEmit', '-p', 'tsconfig.json'], app, 120_000)
  exitedZero(t, r, 'tsc --noEmit')
  t.equal(r.stdout.trim(), '', 'no diagnostics')
}, { blocking: false })

/** Starts `node server.mjs` in the app; resolves with its one JSON line. */
async function startServer (extraEnv?: Record<string, string>): Promise<{ child: ChildProcessWithoutNullStreams, line: Record<string, unknown> | undefined, stderr: () => string }> {
  const child = start('node', ['server.mjs'], app, extraEnv)
  let stderr = ''
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  const lines = createInterface({ input: child.stdout })
  const first = await new Promise<string | undefined>((resolve) => {
    lines.once('line', resolve)
    lines.once('close', () => resolve(undefined))
  })
  lines.close()
  return { child, line: first === undefined ? undefined : JSON.parse(first) as Record<string, unknown>, stderr: () => stderr }
}

/** A server whose app.ready() must reject: its error, and that it exits by itself after app.close(). */
async function notReady (t: Test, extraEnv?: Record<string, string>): Promise<{ code?: string, message?: string }> {
  const { child, line, stderr } = await startServer(extraEnv)
  const end = await finished(child, 60_000)
  t.notOk(end.killed, 'the app exits by itself after the failed app.ready() and app.close(): no worker is left behind')
  t.equal(end.code, 1, end.code === 1 ? 'server.mjs exits 1' : `server.mjs: ${why({ ...end, stderr: stderr() })}`)
  const error = line?.error as { code?: string, message?: string } | undefined
  t.ok(error !== undefined, `app.ready() rejected (server.mjs printed ${JSON.stringify(line)})`)
  return error ?? {}
}

await step('without the set-up, app.ready() rejects with AGS_PYTHON_NOT_READY, saying what to do', async (t) => {
  t.notOk(existsSync(join(app, '.venv')), 'no .venv yet: pythonRunner falls back to python3')
  const error = await notReady(t)
  t.equal(error.code, 'AGS_PYTHON_NOT_READY')
  const message = error.message ?? ''
  t.match(message, /\bpython3\b/, 'names the interpreter')
  t.match(message, /autogen_stream_bridge/, 'names what is missing')
  t.ok(message.includes(SETUP), `names the set-up command "${SETUP}": ${message}`)
})

const venvPython = join(app, '.venv', 'bin', 'python')

/** The bridge's installed files, as pip recorded them: unchanged when nothing was reinstalled. */
function bridgeRecord (): { path: string, mtimeMs: number } | undefined {
  const lib = join(app, '.venv', 'lib')
  for (const py of existsSync(lib) ? readdirSync(lib) : []) {
    const site = join(lib, py, 'site-packages')
    const info = existsSync(site) ? readdirSync(site).find((d) => /^autogen_stream_bridge-.+\.dist-info$/.test(d)) : undefined
    if (info !== undefined) return { path: join(site, info, 'RECORD'), mtimeMs: statSync(join(site, info, 'RECORD')).mtimeMs }
  }
  return undefined
}

/** Every file under dir, relative to it. */
function listFiles (dir: string): string[] {
  return (readdirSync(dir, { recursive: true, withFileTypes: true }))
    .filter((e) => !e.isDirectory())
    .map((e) => relative(dir, join(e.parentPath, e.name)))
    .sort()
}

const installed = join(app, 'node_modules', 'fastify-autogen-stream')
let shipped: string[] = []

await step(`${SETUP} makes ./.venv with the bridge and AutoGen`, async (t) => {
  shipped = listFiles(installed)
  const r = await run('npx', ['--no', '--', 'fastify-autogen-stream', 'setup-python'], app, 480_000)
  exitedZero(t, r, SETUP)
  t.equal(r.stdout.trimEnd().split('\n').at(-1), venvPython, 'the last line of stdout is the venv\'s python')
  t.ok(existsSync(venvPython))
  const probe = await run(venvPython, ['-c', [
    'import importlib.metadata as m, json, autogen_stream_bridge, autogen_stream_bridge.worker, autogen_ext.models.replay',
    'print(json.dumps({"agentchat": m.version("autogen-agentchat"), "bridge": autogen_stream_bridge.__file__}))'
  ].join('\n')], app, 60_000)
  exitedZero(t, probe, 'the venv imports the bridge and AutoGen:')
  const found = JSON.parse(probe.stdout.trim() || '{}') as { agentchat?: string, bridge?: string }
  t.equal(found.agentchat, AGENTCHAT, 'AutoGen at the bridge\'s pin')
  t.ok(found.bridge?.startsWith(join(app, '.venv')), `the bridge is installed into the venv, not linked to node_modules (${String(found.bridge)})`)
})

await step(`${SETUP} writes nothing into node_modules`, async (t) => {
  // node_modules may be read-only (a container layer, a shared store) and is
  // npm's to replace; and a build/ left there by pip's in-place build feeds
  // its stale files (a module since removed, say) into the next install.
  t.same(listFiles(installed).filter((f) => !shipped.includes(f)), [], 'files added to node_modules/fastify-autogen-stream')
}, { blocking: false })

await step(`${SETUP} again does nothing and prints the same python`, async (t) => {
  const before = bridgeRecord()
  t.ok(before !== undefined, 'pip recorded the bridge')
  const r = await run('npx', ['--no', '--', 'fastify-autogen-stream', 'setup-python'], app, 120_000)
  exitedZero(t, r, SETUP)
  t.equal(r.stdout.trimEnd().split('\n').at(-1), venvPython)
  t.same(bridgeRecord(), before, 'nothing was reinstalled')
})

await step('the app\'s server streams a run of its own factory to its result', async (t) => {
  t.ok(ANSWER.split(' ').length > 5, 'my_agents.py has its ANSWER')
  const { child, line, stderr } = await startServer()
  const url = line?.url
  if (typeof url !== 'string') {
    child.kill('SIGKILL')
    t.fail(`the server did not start: ${JSON.stringify(line)}\n${tail(stderr())}`)
    return
  }
  const exit = finished(child, 60_000)

  const health = await fetch(line?.health as string)
  t.same(await health.json(), { ok: true }, 'the app\'s own route still answers')

  const [pid] = line?.pids as Array<number | undefined>
  t.ok(typeof pid === 'number', 'one worker is running')
  if (typeof pid === 'number' && existsSync(`/proc/${pid}/cmdline`)) {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
    t.equal(argv[0], venvPython, 'the worker runs on ./.venv/bin/python, found by default')
  }

  const c = await Client.connect(url, { protocols: ['autogen-stream.v1'] })
  const task = 'Say something about installing'
  c.send({ type: 'start', runId: 'install-1', task })
  const frames = await c.untilEnded('install-1')
  c.close()
  await c.closed

  t.same(frames.map((f) => f.seq), frames.map((_, i) => i), 'seq from 0 without gaps')
  const tokens = frames.filter((f): f is TokenFrame & { runId: string, seq: number } => f.type === 'token')
  t.same(frames.map((f) => f.type), ['started', 'event', ...tokens.map(() => 'token'), 'event', 'result'], 'started, the task, its tokens, the answer, result')
  t.equal(tokens.map((f) => f.text).join(''), ANSWER, 'the tokens spell the answer')
  t.equal(tokens.reduce((n, f) => n + f.chunks, 0), ANSWER.split(' ').length, 'one streaming chunk per word, none lost')
  const events = frames.filter((f): f is EventFrame & { runId: string, seq: number } => f.type === 'event').map((f) => f.event as { type: string, source?: string, content?: unknown, id?: string })
  t.same(events.map((e) => [e.type, e.source, e.content]), [['TextMessage', 'user', task], ['TextMessage', 'assistant', ANSWER]])
  t.ok(tokens.every((f) => f.source === 'assistant' && f.full_message_id === events[1]?.id), 'tokens belong to the answer')
  const result = frames.at(-1) as ResultFrame
  t.equal(result.result.type, 'TaskResult')
  t.equal(result.result.messages.length, 2)

  // The packed client, in Node with ws: the same run assembled into messages.
  const clientEnd = await finished(start('node', ['client.mjs', url, task], app), 60_000)
  t.equal(clientEnd.code, 0, clientEnd.code === 0 ? 'client.mjs exits 0' : why(clientEnd))
  const assembled = JSON.parse(clientEnd.stdout.trim().split('\n').at(-1) ?? '{}') as { messages?: unknown, eventsAreTheResult?: boolean }
  t.same(assembled.messages, [['message', 'user', task, false], ['message', 'assistant', ANSWER, false]], 'fastify-autogen-stream/client assembles the answer')
  t.equal(assembled.eventsAreTheResult, true, 'its events are the TaskResult\'s messages')

  child.stdin.end()
  const end = await exit
  t.notOk(end.killed, 'the server exits by itself once closed')
  t.equal(end.code, 0, end.code === 0 ? 'and exits 0' : why({ ...end, stderr: stderr() }))
  if (typeof pid === 'number') t.notOk(existsSync(`/proc/${pid}`) && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z '), 'its worker is gone')
})

await step('a factory module that does not import: app.ready() rejects naming the interpreter and the module', async (t) => {
  const error = await notReady(t, { APP_FACTORY: 'no_such_module:create' })
  t.equal(error.code, 'AGS_PYTHON_NOT_READY')
  t.ok(error.message?.includes(venvPython), `names the interpreter: ${String(error.message)}`)
  t.match(error.message ?? '', /no_such_module/, 'names the module')
})
