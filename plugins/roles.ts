import type { onRequestHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { HttpError } from '../src/http/errors.js'

declare module 'fastify' {
  interface FastifyInstance {
    // Listed after fastify.authenticate: onRequest: [fastify.authenticate, fastify.requireRole('admin')].
    requireRole: (role: string) => onRequestHookHandler
  }
}

export default fp(async function roles (fastify) {
  fastify.decorate('requireRole', function requireRole (role: string): onRequestHookHandler {
    return function hasRole (request, _reply, done) {
      // Roles come from the verified token: no store query on the way.
      if (request.user?.roles?.includes(role)) return done()
      done(new HttpError('insufficient_role', `This requires the ${role} role`))
    }
  })
}, { name: 'roles' })
