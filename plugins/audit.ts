import type { FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { Audit, AUDIT_NAME_KEY_SECRET, newAuditNameKey, type AuditEvent, type AuditFields } from '../src/observability/audit.js'

declare module 'fastify' {
  interface FastifyInstance {
    audit: Audit
    // Records `event` with the request's address, user agent, request id and (when authenticated) user and
    // session; `fields` add to or override them.
    auditRequest: (request: FastifyRequest, event: AuditEvent, fields?: AuditFields) => void
  }
}

// Audit events go to the service's log, one line each under the `audit` key, at info or, for
// refresh_reuse_detected, warn (src/observability/audit.ts).
export default fp(async function audit (fastify) {
  const audit = new Audit((record, level) => fastify.log[level]({ audit: record }, 'audit'))
  fastify.decorate('audit', audit)
  fastify.decorate('auditRequest', function auditRequest (request: FastifyRequest, event: AuditEvent, fields: AuditFields = {}) {
    const user = request.user as { sub?: string, sid?: string } | undefined
    audit.record(event, {
      userId: user?.sub,
      sessionId: user?.sid,
      ip: request.ip,
      userAgent: request.headers['user-agent']?.slice(0, 256),
      reqId: request.id,
      ...fields
    })
  })
  fastify.readiness.step('audit', async () => {
    audit.setNameKey(await fastify.store.secrets.getOrCreate(AUDIT_NAME_KEY_SECRET, newAuditNameKey, new Date(fastify.clock()).toISOString()))
  })
}, { name: 'audit', dependencies: ['readiness', 'services'] })
