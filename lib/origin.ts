import type { FastifyRequest } from 'fastify'
import type { Config } from './options.js'

/**
 * A browser page from another site may open the socket with the user's
 * cookies (cross-site WebSocket hijacking), or run on the AG-UI route with
 * them: the Origin it sends must be the one the request went to, or one
 * the app allows.
 */
export function originAllowed (request: FastifyRequest, allowed: Config['allowedOrigins']): boolean {
  const origin = request.headers.origin
  if (origin === undefined) return true // not a browser
  if (typeof allowed === 'function') return allowed(origin, request) === true
  let page: URL
  try {
    page = new URL(origin)
  } catch {
    return false // 'null' (sandboxed pages, file:) and anything else that is no origin
  }
  if (allowed !== undefined) return allowed.includes(page.origin)
  try {
    // Parsed alike, so case and default ports compare equal (Host "example.com:443" is the origin https://example.com).
    return new URL(`${page.protocol}//${request.host}`).host === page.host
  } catch {
    return false
  }
}
