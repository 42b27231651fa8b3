import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { refuseOversized } from '../src/accounts/accounts.js'
import { HttpError } from '../src/http/errors.js'
import { ErrorResponse, errorAnswer, LoginBody, TokenResponse } from '../src/http/schemas.js'

const login: FastifyPluginAsyncTypebox = async function (fastify) {
  fastify.post('/login', {
    onRequest: [fastify.requireStarted],
    config: { rateLimit: fastify.rateLimits.login },
    schema: {
      summary: 'Exchange a username and password for an access token and a refresh token',
      tags: ['tokens'],
      body: LoginBody,
      response: {
        200: { ...TokenResponse, description: 'Logged in: an access token, and the refresh token of a new session' },
        400: ErrorResponse,
        401: errorAnswer('Invalid credentials: the same answer for an unknown user, a wrong password and a disabled account'),
        413: ErrorResponse,
        415: ErrorResponse,
        429: errorAnswer('Too many logins from this address (the rate limit, or its share of the hashing queue), or too many failed logins for this name; retry after Retry-After seconds', { retryAfter: true }),
        503: errorAnswer('Too many logins waiting to be hashed, or the service starting, overloaded, its store unreachable, or shutting down; retry after Retry-After seconds', { retryAfter: true })
      }
    }
  }, async function (request, reply) {
    const { username, password } = request.body
    refuseOversized(password) // 400, before it counts as an attempt or costs a hash
    const attempt = await fastify.passwordAttempt(request, username) // 429 while this name waits here
    try {
      const { usernameHash } = attempt
      const { user, failure } = await fastify.accounts.checkLogin(username, password, attempt.flow)
      // No session either when the user's credentials changed (or the user was disabled) while the password
      // was being checked: the same answer as a wrong password.
      const issued = user && await fastify.sessions.start(user, { userAgent: request.headers['user-agent'], ip: request.ip })
      if (!user || !issued) {
        await attempt.failed()
        // Never the typed name (people type passwords there): a keyed hash of it, when no such user exists.
        fastify.auditRequest(request, 'login_failed', failure === undefined
          ? { userId: user?.id, reason: 'credentials_changed' }
          : failure.reason === 'unknown_user'
            ? { usernameHash, reason: failure.reason }
            : { userId: failure.userId, reason: failure.reason })
        // One answer for unknown user, wrong password and disabled account: nothing to learn from it.
        throw new HttpError('invalid_credentials', 'Invalid credentials')
      }
      await attempt.succeeded()
      fastify.auditRequest(request, 'login_succeeded', { userId: user.id, sessionId: issued.sessionId })
      reply.header('cache-control', 'no-store') // RFC 6749 §5.1
      return fastify.tokenResponse(user, issued)
    } finally {
      // No verdict (the hashing queue full, the store unavailable, any error): not an attempt after all,
      // before the answer leaves, so that the client's retry finds it gone.
      await attempt.takeBack()
    }
  })
}

export default login
