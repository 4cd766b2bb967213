import type { FastifyReply } from 'fastify'
import { Type, type Static } from 'typebox'

/**
 * The body of an HTTP error answer of the route. Lenient on purpose: other
 * plugins on the route (@fastify/rate-limit's 429, say) answer with bodies
 * of their own, which must pass through as they are.
 */
export const ErrorBody = Type.Object({ code: Type.Optional(Type.String()), message: Type.Optional(Type.String()) }, { additionalProperties: true })

/** Answers a request with an error of the table instead of upgrading it: its status, `{ code, message }`. */
export async function refuse (reply: FastifyReply, err: { code: string, message: string, statusCode?: number }): Promise<void> {
  const body: Static<typeof ErrorBody> = { code: err.code, message: err.message }
  await reply.code(err.statusCode ?? 400).send(body)
}
