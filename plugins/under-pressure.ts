import underPressure from '@fastify/under-pressure'
import fp from 'fastify-plugin'
import { getHeapStatistics } from 'node:v8'
import { errorBody } from '../src/http/errors.js'

// @fastify/under-pressure: while the event loop lags more than MAX_EVENT_LOOP_DELAY ms, or the heap in use
// is above MAX_HEAP_USED_MB (90 % of V8's heap limit by default), requests get 503 with Retry-After rather
// than waiting in a queue that only grows. It samples on a timer; its per-request check reads the last
// sample. A route that must answer anyway (liveness) opts out with its own `pressureHandler`.
export default fp(async function pressure (fastify) {
  const { MAX_EVENT_LOOP_DELAY, MAX_HEAP_USED_MB } = fastify.config
  const heapLimitMb = MAX_HEAP_USED_MB ?? Math.floor(getHeapStatistics().heap_size_limit * 0.9 / 2 ** 20)
  await fastify.register(underPressure, {
    maxEventLoopDelay: MAX_EVENT_LOOP_DELAY,
    maxHeapUsedBytes: heapLimitMb * 2 ** 20,
    pressureHandler: (request, reply, type, value) => {
      request.log.warn({ type, value }, 'under pressure: answered 503')
      // The same error body on every route, whatever the route's own response schema for 503 says.
      reply.code(503).header('retry-after', '5').type('application/json; charset=utf-8').serializer(JSON.stringify)
      // A value returned here is what the plugin sends (and the request goes no further); its types say
      // void, its code (and documentation) say otherwise.
      return errorBody('overloaded', 'The service is overloaded; retry shortly') as unknown as void
    }
  })
  // After security-headers and cors: their onRequest hooks run first, so a 503 from here carries the
  // security headers, and a listed origin can read it (and its Retry-After).
}, { name: 'under-pressure', dependencies: ['env', 'security-headers', 'cors'] })
