// The demo app: the plugin at /autogen on the Python runner, and the page of
// examples/demo/ that talks to it through the client library (dist/client/,
// served as is: plain browser ES modules). The same runs over AG-UI at
// /ag-ui, and a page of its own (/ag-ui) that uses AG-UI's client, bundled
// for the browser with esbuild when first asked for. Not listening:
// examples/demo-server.js listens (`npm start`), the browser tests listen on
// a port of their own.
import { readdir, readFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Fastify from 'fastify'
import autogenStream, { pythonRunner } from '../dist/index.js'

const here = dirname(fileURLToPath(import.meta.url))
const pageDir = join(here, 'demo')
const clientDir = join(here, '..', 'dist', 'client')

export const DEFAULT_FACTORY = 'autogen_stream_bridge.demo:create_team'
/** What the demo team reads of the server's environment; the workers see nothing else of its secrets. */
export const DEMO_PASS_ENV = ['OPENAI_API_KEY', 'OPENAI_MODEL', 'OPENAI_BASE_URL', 'AUTOGEN_DEMO_DELAY_MS']

/** The page's own files: URL path → [file in examples/demo/, content type]. */
const PAGE_FILES = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/app.js': ['app.js', 'text/javascript; charset=utf-8'],
  '/style.css': ['style.css', 'text/css; charset=utf-8'],
  '/favicon.svg': ['favicon.svg', 'image/svg+xml'],
  '/ag-ui': ['ag-ui.html', 'text/html; charset=utf-8'],
  '/ag-ui.css': ['ag-ui.css', 'text/css; charset=utf-8'],
  // Browsers ask for it whatever the page says: the same icon, never a 404.
  '/favicon.ico': ['favicon.svg', 'image/svg+xml']
}

/**
 * The page runs only its own scripts and styles, and talks only to its own
 * origin. Its WebSocket is named too (ws: and wss: on the same host): not
 * every browser counts it as 'self'.
 */
function securityHeaders (host, gateways = []) {
  const sockets = (typeof host === 'string' && /^[A-Za-z0-9.-]+(:\d+)?$|^\[[0-9A-Fa-f:.]+\](:\d+)?$/.test(host) ? ` ws://${host} wss://${host}` : '') +
    gateways.map((url) => ` ${new URL(url).origin.replace(/^http/, 'ws')}`).join('')
  return {
    'content-security-policy': `default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'${sockets}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    // A demo under development: always the files on disk.
    'cache-control': 'no-cache'
  }
}

/**
 * @param {object} [options]
 * @param {string} [options.factory] The Python factory (`module:callable`). Default: AUTOGEN_FACTORY, else the demo team.
 * @param {number} [options.workers] Python worker processes. Default: WORKERS, else 2.
 * @param {Record<string, string>} [options.env] Extra variables for the workers (e.g. AUTOGEN_DEMO_DELAY_MS), over the ones passed from this environment.
 * @param {string} [options.python] The interpreter (default: the runner's: ./.venv/bin/python, …).
 * @param {object} [options.plugin] More options of the plugin (path and runner are the demo's).
 * @param {object} [options.runs] Instead of the worker pool: runs held elsewhere (`redisRuns({ url })`, examples/cluster.js).
 * @param {string[]} [options.gateways] WebSocket URLs of the gateways sharing runs with this one: the page's client tries them in turn when its connection is lost.
 * @param {import('fastify').FastifyServerOptions['logger']} [options.logger] Fastify's logger option. Default: info, or LOG_LEVEL.
 * @returns {Promise<import('fastify').FastifyInstance>}
 */
export async function createDemoApp (options = {}) {
  const clientFiles = await clientWhitelist()
  const app = Fastify({ logger: options.logger ?? { level: process.env.LOG_LEVEL ?? 'info' } })

  await app.register(autogenStream, {
    // AG-UI beside the WebSocket (docs/ag-ui.md): POST /ag-ui, GET /ag-ui/runs/:runId.
    agUi: true,
    ...options.plugin,
    path: '/autogen',
    // Scale-out (examples/cluster.js): runs on worker hosts behind Redis, instead of a worker pool here.
    ...(options.runs !== undefined
      ? { runs: options.runs }
      : {
          runner: pythonRunner({
            factory: options.factory ?? process.env.AUTOGEN_FACTORY ?? DEFAULT_FACTORY,
            workers: options.workers ?? Number(process.env.WORKERS ?? 2),
            passEnv: DEMO_PASS_ENV,
            ...(options.env === undefined ? {} : { env: options.env }),
            ...(options.python === undefined ? {} : { python: options.python })
          })
        })
  })

  // Which gateways the page's client may use (in turn, when one is lost); by default, this one.
  const gateways = options.gateways ?? []
  app.get('/demo-config.json', async (request, reply) => {
    reply.headers(securityHeaders(request.headers.host, gateways))
    return { gateways }
  })

  for (const [url, [file, type]] of Object.entries(PAGE_FILES)) {
    app.get(url, async (request, reply) => {
      reply.headers(securityHeaders(request.headers.host, gateways)).type(type)
      return await readFile(join(pageDir, file))
    })
  }

  // The AG-UI page's script: examples/demo/ag-ui-page.js with @ag-ui/client,
  // bundled once, on first request (esbuild and @ag-ui/client are
  // devDependencies: a checkout has them, the published package does not).
  let agUiPage
  app.get('/ag-ui-page.js', async (request, reply) => {
    agUiPage ??= bundleAgUiPage()
    let code
    try {
      code = await agUiPage
    } catch (err) {
      agUiPage = undefined
      request.log.error({ err }, 'demo: the AG-UI page could not be bundled')
      return reply.code(501).type('text/plain; charset=utf-8').send('The AG-UI page needs esbuild and @ag-ui/client (npm install, in a checkout of the project).')
    }
    reply.headers(securityHeaders(request.headers.host)).type('text/javascript; charset=utf-8')
    return code
  })

  // The client library, as `npm run build` made it: only its .js files, by name.
  app.get('/client/:name', async (request, reply) => {
    const { name } = /** @type {{ name: string }} */ (request.params)
    if (!clientFiles.has(name)) return reply.callNotFound()
    reply.headers(securityHeaders(request.headers.host)).type('text/javascript; charset=utf-8')
    return await readFile(join(clientDir, name))
  })

  return app
}

/** examples/demo/ag-ui-page.js and what it imports, as one browser module. */
async function bundleAgUiPage () {
  const { build } = await import('esbuild')
  const result = await build({
    entryPoints: [join(pageDir, 'ag-ui-page.js')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    minify: true,
    write: false,
    logLevel: 'silent'
  })
  return result.outputFiles[0].text
}

/** The names of dist/client/*.js, read once: nothing else under /client/ is ever served. */
async function clientWhitelist () {
  let names
  try {
    names = await readdir(clientDir)
  } catch (err) {
    throw new Error(`The client library is not built (${clientDir}): run \`npm run build\` first`, { cause: err })
  }
  const files = new Set(names.filter((name) => /^[a-z0-9-]+\.js$/.test(name)))
  if (!files.has('index.js')) throw new Error(`${clientDir} has no index.js: run \`npm run build\` first`)
  return files
}
