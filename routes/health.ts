import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { ErrorResponse, RetryAfter } from '../src/http/schemas.js'

// What works less well than it should but leaves every answer true (a hint path down while another, or
// polling, carries the news); absent when nothing is. Never a 503: one Redis that stalls must not take
// every instance out of the load balancer.
const Degraded = Type.Optional(Type.Array(Type.String(), { description: 'What works less well than it should, e.g. "hints: Redis stalled, listening on PostgreSQL"; absent when nothing is' }))
const Ready = Type.Object({ status: Type.Literal('ready'), degraded: Degraded })
const NotReady = Type.Object({ status: Type.Literal('not ready'), reasons: Type.Array(Type.String()), degraded: Degraded })

// For orchestrators and load balancers. Liveness: the process answers (even under pressure: a busy
// instance is not a dead one). Readiness: the store has been reached and migrated, the keys and the
// revocation list are loaded, the change feed has caught up within the last few polls, and the service is
// not shutting down; what is degraded meanwhile is listed. Neither needs a token, and neither touches the store.
const health: FastifyPluginAsyncTypebox = async function (fastify) {
  fastify.get('/health/live', {
    config: { pressureHandler: () => undefined },
    schema: { summary: 'Liveness: the process is up', tags: ['health'], response: { 200: Type.Object({ status: Type.Literal('ok') }, { description: 'The process is up' }) } }
  }, async function () {
    return { status: 'ok' as const }
  })

  fastify.get('/health/ready', {
    schema: {
      summary: 'Readiness: able to answer every route truthfully',
      tags: ['health'],
      response: {
        200: { ...Ready, description: 'Ready: able to answer every route truthfully' },
        // Not ready; or, like every route, overloaded or shutting down (the usual error body).
        503: Type.Union([NotReady, ErrorResponse], { description: 'Not ready (the reasons say why), overloaded, or shutting down; retry after Retry-After seconds', headers: { 'Retry-After': RetryAfter } })
      }
    }
  }, async function (_request, reply) {
    const reasons = fastify.readiness.reasons()
    const degraded = fastify.readiness.degraded()
    const also = degraded.length > 0 ? { degraded } : {}
    if (reasons.length === 0) return { status: 'ready' as const, ...also }
    reply.code(503).header('retry-after', '5')
    return { status: 'not ready' as const, reasons, ...also }
  })
}

export default health
