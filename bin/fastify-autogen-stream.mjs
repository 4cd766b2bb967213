#!/usr/bin/env node
// fastify-autogen-stream setup-python [--venv PATH] [--extra NAME]... [--python EXE]
//
// Makes a virtual environment (default ./.venv, where pythonRunner looks
// first) with the bundled Python bridge and AutoGen, checks it, and prints
// its python on the last line of stdout.
import { parseArgs } from 'node:util'
import { setupPython } from './setup-python.mjs'

const usage = `usage: fastify-autogen-stream setup-python [--venv PATH] [--extra NAME]... [--python EXE]

  --venv PATH     the virtual environment to create or update (default: ./.venv,
                  which pythonRunner uses when it exists in its cwd)
  --extra NAME    an extra of the bridge to install too, e.g. openai (repeatable)
  --python EXE    the interpreter that creates the venv (default: $PYTHON or python3; 3.10+)
`

function main (argv) {
  const [command, ...rest] = argv
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(usage)
    return command === undefined ? 2 : 0
  }
  if (command !== 'setup-python') {
    process.stderr.write(`unknown command "${command}"\n${usage}`)
    return 2
  }
  let values
  try {
    ({ values } = parseArgs({
      args: rest,
      options: {
        venv: { type: 'string' },
        extra: { type: 'string', multiple: true },
        python: { type: 'string' },
        editable: { type: 'boolean' }, // this repository's own development set-up
        help: { type: 'boolean', short: 'h' }
      }
    }))
  } catch (err) {
    process.stderr.write(`${err.message}\n${usage}`)
    return 2
  }
  if (values.help === true) {
    process.stdout.write(usage)
    return 0
  }
  try {
    const { python, autogen, changed } = setupPython({ venv: values.venv, extras: values.extra, python: values.python, editable: values.editable })
    process.stderr.write(`${changed ? 'installed' : 'up to date'}: autogen-agentchat ${autogen}\n`)
    process.stderr.write('pythonRunner finds it in ./.venv by default; elsewhere, pass it as pythonRunner({ python })\n')
    process.stdout.write(`${python}\n`)
    return 0
  } catch (err) {
    process.stderr.write(`setup-python: ${err.message}\n`)
    return 1
  }
}

process.exitCode = main(process.argv.slice(2))
