import t from 'tap'
import { execFile } from 'node:child_process'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'

// A fresh process (the built dist/, as an app imports the package) with a
// module resolve hook that records every import of prom-client and
// @opentelemetry/*, and by whom: what registering the plugin imports.
const root = join(dirname(fileURLToPath(import.meta.url)), '..')

const hooks = `
  import { appendFileSync } from 'node:fs'
  let log
  export function initialize (data) { log = data.log }
  export async function resolve (specifier, context, next) {
    if (/^(prom-client|@opentelemetry\\/)/.test(specifier) && context.parentURL?.includes('/dist/')) appendFileSync(log, specifier + '\\n')
    return next(specifier, context)
  }
`

async function importedBy (options: string): Promise<string[]> {
  const dir = await mkdtemp(join(tmpdir(), 'ags-imports-'))
  const log = join(dir, 'imports.log')
  await writeFile(log, '')
  const script = `
    import { register } from 'node:module'
    register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hooks)}), { data: { log: ${JSON.stringify(log)} } })
    const { default: Fastify } = await import('fastify')
    const { Registry } = await import('prom-client')
    const { default: autogenStream } = await import('./dist/index.js')
    const app = Fastify()
    await app.register(autogenStream, { runner: async function * () {}, ...(${options}) })
    await app.ready()
    await app.close()
  `
  await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { cwd: root })
  const lines = (await readFile(log, 'utf8')).split('\n').filter((l) => l !== '')
  await rm(dir, { recursive: true })
  return [...new Set(lines)].sort()
}

t.test('without metrics and with tracing: false, neither prom-client nor @opentelemetry/api is loaded', async (t) => {
  t.same(await importedBy('{ tracing: false }'), [])
})

t.test('tracing on by default loads @opentelemetry/api only', async (t) => {
  t.same(await importedBy('{}'), ['@opentelemetry/api'])
})

t.test('metrics given: the plugin imports prom-client', async (t) => {
  t.same(await importedBy('{ tracing: false, metrics: new Registry() }'), ['prom-client'])
})
