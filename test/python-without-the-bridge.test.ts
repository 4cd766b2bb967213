import t from 'tap'
import { tmpdir } from 'node:os'
import { pythonRunner } from '../lib/index.js'
import { startServer, logCollector, waitFor } from './fixtures/server.js'

// What a new user meets first: an interpreter without the bridge or AutoGen
// (the system python3 here; CI's is as bare).
t.test('app.ready() fails naming the interpreter, what is missing and the set-up command; the cause is logged at error once', async (t) => {
  const runner = pythonRunner({ python: 'python3', factory: 'autogen_stream_bridge.demo:create_team', workers: 1, cwd: tmpdir() })
  t.after(() => runner.close())
  const logs = logCollector()
  await t.rejects(startServer({ runner }, undefined, logs.stream), {
    code: 'AGS_PYTHON_NOT_READY',
    message: 'The Python worker (python3) could not start: the Python worker exited (code 1): ModuleNotFoundError: No module named \'autogen_stream_bridge\'. ' +
      'Run "npx fastify-autogen-stream setup-python" in your app: it makes ./.venv with the bridge and AutoGen, which pythonRunner uses by default; ' +
      'or pass pythonRunner({ python }) an interpreter that has them'
  })
  // It goes on restarting (with a growing delay) for as long as the runner lives: three more deaths.
  const pids = new Set<number>()
  await waitFor(() => {
    const [pid] = runner.pids
    if (pid !== undefined) pids.add(pid)
    return pids.size >= 4
  })
  const errors = logs.lines.filter((l) => l.level === 50)
  t.equal(errors.length, 1, 'one error line for one cause, not one per restart')
  t.match(errors[0]?.msg, /the Python worker cannot start: .*No module named 'autogen_stream_bridge'\. Run "npx fastify-autogen-stream setup-python"/)
})

t.test('an interpreter that does not exist: the same error, saying so', async (t) => {
  const runner = pythonRunner({ python: '/nonexistent/python', factory: 'autogen_stream_bridge.demo:create_team', workers: 1 })
  t.after(() => runner.close())
  await t.rejects(startServer({ runner }), {
    code: 'AGS_PYTHON_NOT_READY',
    message: /^The Python worker \(\/nonexistent\/python\) could not start: could not start \/nonexistent\/python: spawn \/nonexistent\/python ENOENT\. Run "npx fastify-autogen-stream setup-python"/
  })
})
