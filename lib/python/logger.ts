import type { FastifyBaseLogger } from 'fastify'

/**
 * The workers start when pythonRunner() is called, before any Fastify app
 * exists; the plugin hands over the app's logger at registration (init()).
 * Until then, warnings and errors go to stderr so a worker that fails at
 * start is never silent.
 */
export class LoggerRef {
  #log: FastifyBaseLogger | undefined
  constructor (log?: FastifyBaseLogger) { this.#log = log }
  set (log: FastifyBaseLogger): void { this.#log = log }
  get current (): Pick<FastifyBaseLogger, 'info' | 'warn' | 'debug' | 'error'> { return this.#log ?? fallback }
}

function toStderr (level: string) {
  return (obj: unknown, msg?: string): void => {
    const text = typeof obj === 'string' ? obj : `${msg ?? ''} ${JSON.stringify(obj)}`
    process.stderr.write(`[autogen-stream ${level}] ${text}\n`)
  }
}

const fallback = {
  info: () => {},
  debug: () => {},
  warn: toStderr('warn'),
  error: toStderr('error')
} as unknown as Pick<FastifyBaseLogger, 'info' | 'warn' | 'debug' | 'error'>
