import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { PasswordAttempt } from '../plugins/login-throttle.js'
import { HttpError } from '../src/http/errors.js'
import { ErrorResponse, errorAnswer, IdParams, Me, PasswordChangeBody, SessionView } from '../src/http/schemas.js'

// The caller's own account and sessions.
const me: FastifyPluginAsyncTypebox = async function (fastify) {
  fastify.get('/me', {
    onRequest: [fastify.authenticate],
    schema: { summary: 'The authenticated user', tags: ['account'], response: { 200: { ...Me, description: 'The user the access token was issued to' }, 401: ErrorResponse } }
  }, async function (request) {
    const user = await fastify.accounts.findById(request.user.sub)
    if (!user) throw new HttpError('invalid_token', 'Invalid or expired token')
    return { id: user.id, username: user.username, roles: user.roles, createdAt: user.createdAt }
  })

  fastify.get('/me/sessions', {
    onRequest: [fastify.authenticate],
    schema: { summary: "The caller's active sessions", tags: ['account'], response: { 200: Type.Array(SessionView, { description: 'The caller\'s active sessions, newest first' }), 401: ErrorResponse } }
  }, async function (request) {
    const sessions = await fastify.sessions.listActive(request.user.sub)
    return sessions.map(({ id, createdAt, lastUsedAt, expiresAt, userAgent, ip }) =>
      ({ id, createdAt, lastUsedAt, expiresAt, userAgent, ip, current: id === request.user.sid }))
  })

  fastify.delete('/me/sessions/:id', {
    onRequest: [fastify.authenticate],
    schema: { summary: 'End one of the caller\'s sessions', tags: ['account'], params: IdParams, response: { 204: Type.Null({ description: 'The session has ended' }), 401: ErrorResponse, 404: ErrorResponse } }
  }, async function (request, reply) {
    await fastify.sessions.endOwn(request.user.sub, request.params.id)
    fastify.auditRequest(request, 'logged_out', { sessionId: request.params.id, actorSessionId: request.user.sid, reason: 'session-ended' })
    return reply.code(204).send(null)
  })

  fastify.put('/me/password', {
    onRequest: [fastify.authenticate],
    config: { rateLimit: fastify.rateLimits.passwordChange },
    schema: {
      summary: 'Change the password; every other session of the user ends',
      tags: ['account'],
      body: PasswordChangeBody,
      response: { 204: Type.Null({ description: 'Changed: every other session of the user has ended' }), 400: ErrorResponse, 401: ErrorResponse, 403: errorAnswer('Invalid credentials: a wrong current password (the access token was fine; logged and throttled as a failed login)'), 413: ErrorResponse, 415: ErrorResponse, 429: ErrorResponse, 503: ErrorResponse }
    }
  }, async function (request, reply) {
    // A wrong current password is a failed login for the account: throttled as one (429 while it waits),
    // and taken back when the check reached no verdict (the hashing queue full, shutting down).
    let attempt: PasswordAttempt | undefined
    try {
      await fastify.accounts.changePassword(request.user.sub, request.body.currentPassword, request.body.newPassword, request.user.sid, {
        beforeVerify: async (username) => (attempt = await fastify.passwordAttempt(request, username)).flow,
        afterVerify: async (right) => { await (right ? attempt?.succeeded() : attempt?.failed()) }
      })
    } finally {
      await attempt?.takeBack()
    }
    fastify.auditRequest(request, 'password_changed')
    return reply.code(204).send(null)
  })
}

export default me
