import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { ErrorResponse, RetryAfter } from '../src/schemas.js'

const Ready = Type.Object({ status: Type.Literal('ready') })
const NotReady = Type.Object({ status: Type.Literal('not ready'), reasons: Type.Array(Type.String()) })

// For orchestrators and load balancers. Liveness: the process answers (even under pressure: a busy
// instance is not a dead one). Readiness: the store has been reached and migrated, the keys and the
// revocation list are loaded, the change feed has caught up within the last few polls, and the service is
// not shutting down. Neither needs a token, and neither touches the store.
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
    if (reasons.length === 0) return { status: 'ready' as const }
    reply.code(503).header('retry-after', '5')
    return { status: 'not ready' as const, reasons }
  })
}

export default health
