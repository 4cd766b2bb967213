import { readFileSync } from 'node:fs'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import websocket from '@fastify/websocket'
import type { WebSocket } from 'ws'
import { Connection, type PluginState } from './connection.js'
import {
  AlreadyRegisteredError, ForbiddenOriginError, ShutdownError, TooManyConnectionsError, TooManyConnectionsFromIpError, UnsupportedProtocolError
} from './errors.js'
import { normalizeOptions, type AutogenStreamOptions, type Config } from './options.js'
import { authenticateRequest } from './auth.js'
import { originAllowed } from './origin.js'
import { ErrorBody, refuse } from './refuse.js'
import { Runs } from './runs.js'
import type { RunDirectory } from './directory.js'
import { MemoryRunStore } from './store/memory.js'
import { AddressCounts, RunAdmission } from './limits.js'
import { createCounters, createEventCounts, createView, type AutogenStreamView } from './stats.js'
import { combineObservers, type RunObserver } from './observe.js'
import type { RunTracer } from './tracing.js'
import { PROTOCOL, PROTOCOLS } from './schemas/frames.js'
import { AgUiRoute } from './ag-ui/route.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Live, read-only figures of the autogen-stream plugin. */
    readonly autogenStream: AutogenStreamView
  }
}

const supported = new Set<string>(PROTOCOLS)

function offeredProtocols (request: FastifyRequest): string[] {
  const header = request.headers['sec-websocket-protocol']
  if (typeof header !== 'string') return []
  return header.split(',').map((p) => p.trim()).filter((p) => p.length > 0)
}

/** Picks our newest version when offered; leaves other routes' subprotocols to ws's default (the first offered). */
function handleProtocols (protocols: Set<string>): string | false {
  for (const version of PROTOCOLS) if (protocols.has(version)) return version
  const first = protocols.values().next()
  return first.done === true ? false : first.value
}

function cutLateUpgrade (_request: unknown, socket: { destroy: () => void }): void {
  setImmediate(() => socket.destroy())
}

/** Refuses the upgrade, before any WebSocket exists: too many connections, a foreign Origin, only unknown protocol versions, no identity. */
async function checkUpgrade (this: { state: PluginState }, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  // Plain GET/HEAD requests to the route get @fastify/websocket's 404: they
  // take no connection slot and cost authenticate() nothing.
  if ((request as { ws?: boolean }).ws !== true) return
  const { config, addresses } = this.state
  if (config.maxConnections !== 0 && addresses.total >= config.maxConnections) {
    await refuse(reply, new TooManyConnectionsError(addresses.total))
    return
  }
  if (config.maxConnectionsPerIp !== 0 && addresses.count(request.ip) >= config.maxConnectionsPerIp) {
    await refuse(reply, new TooManyConnectionsFromIpError(addresses.count(request.ip)))
    return
  }
  // Held from now until the socket closes, so concurrent upgrades count too
  // (not at all without either limit; without a per-address one, the
  // address is not looked up: Node would keep it on the socket).
  const socket = request.raw.socket
  if (config.maxConnections !== 0 || config.maxConnectionsPerIp !== 0) addresses.take(config.maxConnectionsPerIp !== 0 ? request.ip : undefined, socket)
  if (!originAllowed(request, config.allowedOrigins)) {
    addresses.release(socket)
    await refuse(reply, new ForbiddenOriginError(JSON.stringify(String(request.headers.origin).slice(0, 200))))
    return
  }
  const offered = offeredProtocols(request)
  if (offered.length > 0 && !offered.some((p) => supported.has(p))) {
    addresses.release(socket)
    await refuse(reply, new UnsupportedProtocolError(offered.join(', '), PROTOCOL))
    return
  }
  // Last: the cheap refusals above cost the app's authenticate() nothing.
  if (config.authenticate !== undefined && !await authenticateRequest(config.authenticate, request, reply)) addresses.release(socket)
}

/** prom-client, the plugin's metrics on the app's registry, and the runner's (its `metrics` hook). */
async function setUpMetrics (config: Config, source: import('./metrics.js').MetricSource): Promise<{ observer: RunObserver, remove: () => void }> {
  const { loadPromClient, registerPluginMetrics } = await import('./metrics.js')
  const client = await loadPromClient()
  const registry = config.metrics as NonNullable<Config['metrics']>
  const registered = registerPluginMetrics(client, registry, source)
  config.runner?.metrics?.(registry, client)
  return registered
}

async function setUpTracing (route: string): Promise<RunTracer | undefined> {
  const { createRunTracer } = await import('./tracing.js')
  return await createRunTracer(route, packageVersion())
}

function packageVersion (): string {
  try {
    return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version
  } catch {
    return 'unknown'
  }
}

/** The route each registration serves, per Fastify context (an own property: a child context may add its own). */
const kRoute = Symbol('autogenStream.route')

const plugin: FastifyPluginAsync<AutogenStreamOptions> = async function autogenStream (fastify, opts) {
  const config = normalizeOptions(opts)
  const registered = fastify as unknown as Record<symbol, string | undefined>
  if (Object.hasOwn(registered, kRoute)) throw new AlreadyRegisteredError(registered[kRoute])
  registered[kRoute] = config.path
  const counters = createCounters()
  const events = createEventCounts()
  const admission = new RunAdmission(config.maxActiveRuns, config.maxQueuedRuns)
  const connections: PluginState['connections'] = new Map()
  // Metrics and tracing are loaded only when asked for (and, for tracing, installed): nothing of either is imported otherwise.
  let runsRef: RunDirectory | undefined
  const metrics = config.metrics === undefined
    ? undefined
    : await setUpMetrics(config, {
      route: fastify.prefix + config.path,
      counters,
      events,
      connections: () => connections.size,
      figures: () => (runsRef as RunDirectory).figures()
    })
  const tracer = config.tracing ? await setUpTracing(fastify.prefix + config.path) : undefined
  const observer = combineObservers([metrics?.observer, tracer?.observer])
  const runs: RunDirectory = runsRef = config.runs !== undefined
    ? config.runs.create({ config, counters, log: fastify.log })
    : new Runs(config, new MemoryRunStore(), admission, counters, observer)
  const state: PluginState = {
    config,
    runs,
    counters,
    events,
    connections,
    addresses: new AddressCounts(),
    admission
  }
  fastify.decorate('autogenStream', createView(counters, {
    connections: () => state.connections.size,
    runs: () => runs.figures()
  }))

  config.runner?.init?.(fastify.log)
  const agUi = config.agUi === undefined ? undefined : new AgUiRoute(state, config.agUi, tracer)

  let heartbeat: NodeJS.Timeout | undefined
  if (config.pingInterval > 0) {
    heartbeat = setInterval(() => {
      for (const connection of state.connections.values()) connection.heartbeat()
      agUi?.heartbeat()
    }, config.pingInterval).unref()
  }

  // Added before @fastify/websocket is registered below, so it runs before
  // that plugin's own preClose closes every client without a code.
  fastify.addHook('preClose', async () => {
    clearInterval(heartbeat)
    // Fastify answers a request that arrives while it closes with 503 by
    // itself, before any hook, and nothing then ends an upgrade request's
    // socket: server.close() would wait for it for ever. Cut those sockets
    // once the 503 is written.
    fastify.server.on('upgrade', cutLateUpgrade)
    // Every run, attached or not, is cancelled (queued ones first: cancelling
    // an active run frees a slot, which would start the next queued one just
    // to cancel it); each connection then writes how its runs ended.
    runs.shutdown()
    await Promise.all([...state.connections.values()].map((c) => c.end(new ShutdownError(), 'shutdown')).concat(agUi?.shutdown() ?? []))
  })
  // @fastify/websocket ends a refused upgrade's socket in its onResponse
  // hook only when its own onRequest hook ran. An app hook added before this
  // plugin (a rate limit, an auth check) that answers an upgrade in
  // onRequest stops that from running: the 429 or 503 goes out and the
  // socket stays open for ever, holding server.close(). End it here too.
  fastify.addHook('onResponse', async (request) => {
    if ((request as { ws?: unknown }).ws !== true && String(request.headers.upgrade).toLowerCase() === 'websocket') {
      request.raw.socket?.destroy()
    }
  })
  // app.ready() and listen() fail when the runner cannot serve at all (a
  // Python without the bridge), instead of every run failing later.
  fastify.addHook('onReady', async () => {
    await config.runner?.start?.()
    await runs.ready?.()
  })
  fastify.addHook('onClose', async () => {
    clearInterval(heartbeat)
    metrics?.remove()
    runs.clear()
    await config.runner?.close?.()
  })

  if (fastify.hasDecorator('websocketServer')) {
    // The app's own @fastify/websocket serves this route; ours would be ignored.
    const ignored = Object.keys(config.websocket)
    if (ignored.length > 0) fastify.log.warn({ ignored }, 'autogen-stream: @fastify/websocket is already registered, so the "websocket" options are ignored; pass them to your registration of @fastify/websocket')
  } else {
    const user = config.websocket
    await fastify.register(websocket, {
      errorHandler (err, socket: WebSocket, request) {
        request.log.warn({ err }, 'autogen-stream: websocket error')
        // A protocol error (1007, 1009) has already started a close handshake: let it finish.
        if (socket.readyState === 1) socket.terminate()
      },
      ...user,
      options: {
        maxPayload: config.maxPayload,
        perMessageDeflate: false,
        handleProtocols,
        ...user.options
      }
    })
  }

  // The one HTTP answer of the route (before any upgrade) has its schema:
  // serialised by Fastify, typed by the TypeBox provider.
  fastify.withTypeProvider<TypeBoxTypeProvider>().get(config.path, {
    websocket: true,
    preValidation: checkUpgrade.bind({ state }),
    schema: { response: { 400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 429: ErrorBody, 503: ErrorBody } }
  }, tracer === undefined
    ? (socket, request) => { Connection.open(state, socket, request) }
    : (socket, request) => {
        tracer.captureParent(request)
        Connection.open(state, socket, request)
      })

  // The AG-UI endpoint over the same runs (docs/ag-ui.md), in a context of its own.
  if (agUi !== undefined) await fastify.register(agUi.routes)
}

export const autogenStream = fp(plugin, { name: 'fastify-autogen-stream', fastify: '5.x' })
