import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { ErrorResponse } from '../src/http/schemas.js'

const greeting: FastifyPluginAsyncTypebox = async function (fastify) {
  fastify.get('/', {
    onRequest: [fastify.authenticate],
    schema: {
      summary: 'Greet the authenticated user: `Welcome, <username>!`',
      tags: ['account'],
      response: { 200: Type.String({ description: 'The greeting, in text/plain: `Welcome, <username>!`' }), 401: ErrorResponse }
    }
  }, function (request, reply) {
    reply.type('text/plain; charset=utf-8').send(`Welcome, ${request.user.username}!`)
  })
}

export default greeting
