// Creates .venv and installs the Python bridge (python/) with AutoGen from
// PyPI, once: a stamp of python/pyproject.toml skips the work when nothing
// changed. Run by `npm start` and `npm test` (prestart / pretest).
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const venv = join(root, '.venv')
const python = join(venv, 'bin', 'python')
const stamp = join(venv, '.autogen-stream-stamp')
const pyproject = readFileSync(join(root, 'python', 'pyproject.toml'))
const want = createHash('sha256').update(pyproject).digest('hex')

function run (cmd, args) {
  console.error(`> ${cmd} ${args.join(' ')}`)
  const res = spawnSync(cmd, args, { stdio: 'inherit', cwd: root })
  if (res.status !== 0) {
    console.error(`setup-python: "${cmd} ${args.join(' ')}" failed (exit ${res.status})`)
    process.exit(res.status ?? 1)
  }
}

if (existsSync(stamp) && existsSync(python) && readFileSync(stamp, 'utf8') === want) process.exit(0)
if (!existsSync(python)) run(process.env.PYTHON ?? 'python3', ['-m', 'venv', venv])
run(python, ['-m', 'pip', 'install', '--disable-pip-version-check', '-q', '-e', `${join(root, 'python')}[test]`])
writeFileSync(stamp, want)
