import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { FastifyRequest } from 'fastify'
import { AdminUserView, ErrorResponse, IdParams } from '../src/http/schemas.js'

// The audit fields of an admin's action on a user: the user acted on, and the admin (user and session).
const byAdmin = (userId: string, request: FastifyRequest) =>
  ({ userId, sessionId: undefined, actor: request.user.sub, actorSessionId: request.user.sid })

// User administration, for tokens with the admin role.
const admin: FastifyPluginAsyncTypebox = async function (fastify) {
  const onRequest = [fastify.authenticate, fastify.requireRole('admin')]
  const guarded = { 401: ErrorResponse, 403: ErrorResponse }

  fastify.get('/admin/users', {
    onRequest,
    schema: { summary: 'Every user', tags: ['admin'], response: { 200: Type.Array(AdminUserView, { description: 'Every user, oldest first' }), ...guarded } }
  }, async function () {
    const users = await fastify.accounts.list()
    return users.map(({ id, username, roles, disabled, createdAt }) => ({ id, username, roles, disabled, createdAt }))
  })

  fastify.post('/admin/users/:id/disable', {
    onRequest,
    schema: {
      tags: ['admin'],
      summary: 'Refuse the user\'s logins and end every session at once (never the last enabled admin: 409)',
      params: IdParams,
      response: { 204: Type.Null({ description: 'Disabled: every session of the user has ended' }), 404: ErrorResponse, 409: ErrorResponse, ...guarded }
    }
  }, async function (request, reply) {
    await fastify.accounts.setDisabled(request.params.id, true)
    fastify.auditRequest(request, 'user_disabled', byAdmin(request.params.id, request))
    return reply.code(204).send(null)
  })

  fastify.post('/admin/users/:id/enable', {
    onRequest,
    schema: { summary: 'Allow the user to log in again', tags: ['admin'], params: IdParams, response: { 204: Type.Null({ description: 'Enabled: the user may log in again, in new sessions' }), 404: ErrorResponse, ...guarded } }
  }, async function (request, reply) {
    await fastify.accounts.setDisabled(request.params.id, false)
    fastify.auditRequest(request, 'user_enabled', byAdmin(request.params.id, request))
    return reply.code(204).send(null)
  })
}

export default admin
