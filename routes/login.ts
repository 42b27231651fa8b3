import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { HttpError } from '../src/errors.js'
import { ErrorResponse, LoginBody, TokenResponse } from '../src/schemas.js'
import { accessTokenPayload } from '../src/tokens.js'

const login: FastifyPluginAsyncTypebox = async function (fastify) {
  fastify.post('/login', {
    schema: {
      summary: 'Exchange a username and password for an access token',
      body: LoginBody,
      response: { 200: TokenResponse, 400: ErrorResponse, 401: ErrorResponse, 413: ErrorResponse, 415: ErrorResponse }
    }
  }, async function (request, reply) {
    const user = await fastify.accounts.authenticate(request.body.username, request.body.password)
    // One answer for unknown user, wrong password and disabled account: nothing to learn from it.
    if (!user) throw new HttpError(401, 'Invalid credentials')
    reply.header('cache-control', 'no-store') // RFC 6749 §5.1
    return {
      token: fastify.jwt.sign(accessTokenPayload(user)),
      tokenType: 'Bearer' as const,
      expiresIn: fastify.config.ACCESS_TOKEN_TTL
    }
  })
}

export default login
