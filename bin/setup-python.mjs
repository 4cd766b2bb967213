// Creates or reuses a Python virtual environment with this package's bridge
// (python/, which pins AutoGen) installed, checks it by importing it, and
// returns the environment's python. Used by the `fastify-autogen-stream
// setup-python` command and by this repository's own npm start and npm test.
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

export const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..')
const STAMP = '.fastify-autogen-stream-stamp'

/** The venv's interpreter (POSIX and Windows layouts). */
export function venvPython (venv) {
  const posix = join(venv, 'bin', 'python')
  return process.platform === 'win32' && !existsSync(posix) ? join(venv, 'Scripts', 'python.exe') : posix
}

function run (cmd, args, { log, capture = false } = {}) {
  log(`> ${cmd} ${args.join(' ')}`)
  const res = spawnSync(cmd, args, { stdio: capture ? ['ignore', 'pipe', 'pipe'] : ['ignore', 'inherit', 'inherit'], encoding: 'utf8', env: { ...process.env, PIP_DISABLE_PIP_VERSION_CHECK: '1' } })
  if (res.error !== undefined) throw new Error(`could not run ${cmd}: ${res.error.message}`)
  if (res.status !== 0) throw new Error(`"${cmd} ${args.join(' ')}" failed (exit ${res.status})${capture ? `: ${res.stderr.trim().split('\n').at(-1)}` : ''}`)
  return capture ? res.stdout : ''
}

/**
 * @param {{ venv?: string, extras?: string[], python?: string, editable?: boolean, log?: (line: string) => void }} options
 * @returns {{ python: string, autogen: string, changed: boolean }}
 */
export function setupPython (options = {}) {
  const log = options.log ?? ((line) => process.stderr.write(line + '\n'))
  const venv = resolve(options.venv ?? '.venv')
  const extras = [...new Set(options.extras ?? [])].sort()
  for (const extra of extras) if (!/^[a-z0-9][a-z0-9_-]*$/i.test(extra)) throw new Error(`invalid extra "${extra}"`)
  const source = join(packageRoot, 'python')
  const pyproject = readFileSync(join(source, 'pyproject.toml'))
  const version = JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')).version
  // Whatever decides what is installed: nothing changed, nothing to do.
  const want = createHash('sha256').update(pyproject).update(JSON.stringify({ extras, editable: options.editable === true, version, source })).digest('hex')
  const python = venvPython(venv)
  const stamp = join(venv, STAMP)
  let changed = false
  if (!(existsSync(python) && existsSync(stamp) && readFileSync(stamp, 'utf8') === want)) {
    if (!existsSync(python)) run(options.python ?? process.env.PYTHON ?? 'python3', ['-m', 'venv', venv], { log })
    // pip builds in the source tree (build/, *.egg-info): never inside the
    // app's node_modules, which may be read-only and must stay as packed.
    const copy = options.editable === true ? undefined : mkdtempSync(join(tmpdir(), 'autogen-stream-bridge-'))
    try {
      if (copy !== undefined) {
        cpSync(source, copy, { recursive: true, filter: (f) => !/(^|[/\\])(build|tests|__pycache__|[^/\\]*\.egg-info)$/.test(f.slice(source.length)) })
      }
      const from = copy ?? source
      const target = extras.length > 0 ? `${from}[${extras.join(',')}]` : from
      run(python, ['-m', 'pip', 'install', '-q', ...(options.editable === true ? ['-e'] : []), target], { log })
    } finally {
      if (copy !== undefined) rmSync(copy, { recursive: true, force: true })
    }
    writeFileSync(stamp, want)
    changed = true
  }
  // The proof: the worker's own imports work in this interpreter.
  const out = run(python, ['-c', 'import importlib.metadata as m, autogen_stream_bridge.worker, autogen_agentchat; print(m.version("autogen-agentchat"))'], { log: () => {}, capture: true })
  return { python, autogen: out.trim(), changed }
}
