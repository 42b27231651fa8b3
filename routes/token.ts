import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { HttpError } from '../src/http/errors.js'
import { ErrorResponse, errorAnswer, RefreshBody, TokenResponse } from '../src/http/schemas.js'

const token: FastifyPluginAsyncTypebox = async function (fastify) {
  fastify.post('/token/refresh', {
    onRequest: [fastify.requireStarted],
    config: { rateLimit: fastify.rateLimits.refresh },
    schema: {
      summary: 'Exchange a refresh token for a new access token and a new refresh token (the old one is spent)',
      tags: ['tokens'],
      body: RefreshBody,
      response: { 200: { ...TokenResponse, description: 'A new access token and a new refresh token; the one sent is spent' }, 400: ErrorResponse, 401: errorAnswer('Invalid refresh token: unknown, spent, expired, or of an ended session'), 413: ErrorResponse, 415: ErrorResponse, 429: ErrorResponse, 503: ErrorResponse }
    }
  }, async function (request, reply) {
    const outcome = await fastify.sessions.refresh(request.body.refreshToken)
    if (!outcome.ok) {
      // At warn: a spent refresh token presented again means a copy of it exists; the session is revoked.
      if (outcome.reuse) fastify.auditRequest(request, 'refresh_reuse_detected', { ...outcome.reuse, reason: 'session-revoked' })
      throw new HttpError('invalid_refresh_token', 'Invalid refresh token')
    }
    fastify.auditRequest(request, 'token_refreshed', { userId: outcome.user.id, sessionId: outcome.sessionId })
    reply.header('cache-control', 'no-store')
    return fastify.tokenResponse(outcome.user, outcome)
  })
}

export default token
