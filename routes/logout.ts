import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { ErrorResponse, LogoutBody } from '../src/http/schemas.js'

const logout: FastifyPluginAsyncTypebox = async function (fastify) {
  fastify.post('/logout', {
    onRequest: [fastify.authenticate],
    // No body means the current session only.
    preValidation: async (request) => { request.body ??= {} },
    schema: {
      summary: 'End the current session, or with {"scope":"all"} every session of the user',
      tags: ['tokens'],
      body: LogoutBody,
      response: { 204: Type.Null({ description: 'Logged out: the session (with scope "all", every session of the user) has ended' }), 400: ErrorResponse, 401: ErrorResponse, 415: ErrorResponse }
    }
  }, async function (request, reply) {
    const { sub, sid } = request.user
    const all = request.body.scope === 'all'
    const ended = all ? await fastify.sessions.revoke({ userId: sub }, 'logout-all') : await fastify.sessions.revoke({ sessionId: sid }, 'logout')
    fastify.auditRequest(request, 'logged_out', { reason: all ? 'logout-all' : 'logout', sessions: ended.length })
    return reply.code(204).send(null)
  })
}

export default logout
