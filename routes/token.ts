import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { HttpError } from '../src/errors.js'
import { ErrorResponse, RefreshBody, TokenResponse } from '../src/schemas.js'

const token: FastifyPluginAsyncTypebox = async function (fastify) {
  fastify.post('/token/refresh', {
    onRequest: [fastify.requireStarted],
    config: { rateLimit: fastify.rateLimits.refresh },
    schema: {
      summary: 'Exchange a refresh token for a new access token and a new refresh token (the old one is spent)',
      body: RefreshBody,
      response: { 200: TokenResponse, 400: ErrorResponse, 401: ErrorResponse, 413: ErrorResponse, 415: ErrorResponse, 429: ErrorResponse, 503: ErrorResponse }
    }
  }, async function (request, reply) {
    const outcome = await fastify.sessions.refresh(request.body.refreshToken)
    if (!outcome.ok) {
      if (outcome.reuse) {
        request.log.warn({ event: 'refresh_token_reuse', ...outcome.reuse },
          'a spent refresh token was presented again: the session is revoked')
      }
      throw new HttpError(401, 'Invalid refresh token')
    }
    reply.header('cache-control', 'no-store')
    return fastify.tokenResponse(outcome.user, outcome)
  })
}

export default token
