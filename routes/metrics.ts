import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { METRICS_CONTENT_TYPE } from '../src/observability/metrics.js'
import { hasSecondAuthorization } from '../src/tokens/access-tokens.js'
import { ErrorResponse } from '../src/http/schemas.js'

// Prometheus scrapes here (docs/operations.md, "Metrics"). Anyone else gets the 404 of a route that does not exist:
// the same answer, so the endpoint is not advertised. Not rate-limited (no per-address limit applies), and
// answered under pressure too (an overloaded instance is when its metrics matter). In the OpenAPI
// document like every route, under the tag "operations".
const FORWARDING = /^(forwarded|via|x-forwarded-.*|x-real-ip|cf-connecting-ip|true-client-ip|x-client-ip|x-cluster-client-ip|fastly-client-ip)$/

const metrics: FastifyPluginAsyncTypebox = async function (fastify) {
  fastify.get('/metrics', {
    config: { pressureHandler: () => undefined },
    schema: {
      summary: 'Metrics in Prometheus text format (loopback peers, or with METRICS_TOKEN as a Bearer token)',
      tags: ['operations'],
      response: {
        200: Type.String({ description: 'Prometheus text exposition format 0.0.4' }),
        404: { ...ErrorResponse, description: 'Not a loopback peer, or without the right METRICS_TOKEN: the answer of a route that does not exist' }
      }
    }
  }, async function (request, reply) {
    const { headers } = request
    const scrape = {
      peerAddress: request.socket.remoteAddress, // the socket's: request.ip is what X-Forwarded-For says
      authorization: headers.authorization,
      secondAuthorization: hasSecondAuthorization(request.raw.rawHeaders),
      // Any sign of a proxy in front (a same-host nginx would otherwise expose /metrics to everyone it
      // serves): Forwarded, Via, X-Forwarded-*, X-Real-IP, CF-Connecting-IP, True-Client-IP. A proxy that
      // adds none of them cannot be told apart: docs/operations.md says to set METRICS_TOKEN behind one.
      forwarded: Object.keys(headers).some((name) => FORWARDING.test(name))
    }
    if (!fastify.metricsAccess.allows(scrape)) {
      request.log.debug(fastify.metricsAccess.tokenRequired ? 'metrics: refused, no or a wrong token' : 'metrics: refused, not a loopback peer')
      return reply.callNotFound()
    }
    const text = await fastify.metrics.exposition()
    return reply.type(METRICS_CONTENT_TYPE).header('cache-control', 'no-store').send(text)
  })
}

export default metrics
