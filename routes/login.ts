import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { HttpError } from '../src/errors.js'
import { ErrorResponse, LoginBody, TokenResponse } from '../src/schemas.js'

const login: FastifyPluginAsyncTypebox = async function (fastify) {
  fastify.post('/login', {
    onRequest: [fastify.requireStarted],
    config: { rateLimit: fastify.rateLimits.login },
    schema: {
      summary: 'Exchange a username and password for an access token and a refresh token',
      body: LoginBody,
      response: { 200: TokenResponse, 400: ErrorResponse, 401: ErrorResponse, 413: ErrorResponse, 415: ErrorResponse, 429: ErrorResponse, 503: ErrorResponse }
    }
  }, async function (request, reply) {
    const user = await fastify.accounts.authenticate(request.body.username, request.body.password)
    // No session either when the user's credentials changed (or the user was disabled) while the password
    // was being checked: the same answer as a wrong password.
    const issued = user && await fastify.sessions.start(user, { userAgent: request.headers['user-agent'], ip: request.ip })
    if (!user || !issued) {
      request.log.info({ event: 'login_failed' }, 'login failed')
      // One answer for unknown user, wrong password and disabled account: nothing to learn from it.
      throw new HttpError(401, 'Invalid credentials')
    }
    reply.header('cache-control', 'no-store') // RFC 6749 §5.1
    return fastify.tokenResponse(user, issued)
  })
}

export default login
