// This repository's own set-up (npm start, npm test): ./.venv with the
// bridge installed editable and its test extra (pytest, ruff, mypy), through
// the same code as the packaged `fastify-autogen-stream setup-python`.
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setupPython } from '../bin/setup-python.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
try {
  setupPython({ venv: join(root, '.venv'), extras: ['test'], editable: true })
} catch (err) {
  console.error(`setup-python: ${err.message}`)
  process.exit(1)
}
