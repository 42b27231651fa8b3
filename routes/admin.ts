import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { HttpError } from '../src/errors.js'
import { AdminUserView, ErrorResponse, IdParams } from '../src/schemas.js'

// User administration, for tokens with the admin role.
const admin: FastifyPluginAsyncTypebox = async function (fastify) {
  const onRequest = [fastify.authenticate, fastify.requireRole('admin')]
  const guarded = { 401: ErrorResponse, 403: ErrorResponse }

  fastify.get('/admin/users', {
    onRequest,
    schema: { summary: 'Every user', response: { 200: Type.Array(AdminUserView), ...guarded } }
  }, async function () {
    const users = await fastify.accounts.list()
    return users.map(({ id, username, roles, disabled, createdAt }) => ({ id, username, roles, disabled, createdAt }))
  })

  for (const action of ['disable', 'enable'] as const) {
    fastify.post(`/admin/users/:id/${action}`, {
      onRequest,
      schema: {
        summary: action === 'disable' ? 'Refuse the user\'s logins and end every session at once' : 'Allow the user to log in again',
        params: IdParams,
        response: { 204: Type.Null(), 404: ErrorResponse, ...guarded }
      }
    }, async function (request, reply) {
      const user = await fastify.accounts.findById(request.params.id)
      if (!user) throw new HttpError(404, 'No such user')
      await fastify.accounts.setDisabled(user, action === 'disable')
      request.log.info({ event: `user_${action}d`, userId: user.id, by: request.user.sub }, `user ${action}d`)
      return reply.code(204).send(null)
    })
  }
}

export default admin
