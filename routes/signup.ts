import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ErrorResponse, SignupBody, SignupResponse } from '../src/http/schemas.js'

// Self-service accounts, only where SIGNUP_ENABLED=true; otherwise the route does not exist (404).
const signup: FastifyPluginAsyncTypebox = async function (fastify) {
  if (!fastify.config.SIGNUP_ENABLED) return
  fastify.post('/signup', {
    onRequest: [fastify.requireStarted],
    config: { rateLimit: fastify.rateLimits.signup },
    schema: {
      summary: 'Create an account',
      tags: ['account'],
      body: SignupBody,
      response: { 201: { ...SignupResponse, description: 'The account, created' }, 400: ErrorResponse, 409: ErrorResponse, 413: ErrorResponse, 415: ErrorResponse, 429: ErrorResponse, 503: ErrorResponse }
    }
  }, async function (request, reply) {
    const user = await fastify.accounts.create(request.body.username, request.body.password)
    fastify.auditRequest(request, 'user_created', { userId: user.id })
    return reply.code(201).send({ id: user.id, username: user.username })
  })
}

export default signup
