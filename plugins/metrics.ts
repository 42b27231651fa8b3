import fp from 'fastify-plugin'
import { throttled } from '../src/support/log-throttle.js'
import { MetricsAccess } from '../src/http/metrics-access.js'
import { ServiceMetrics } from '../src/observability/metrics.js'

declare module 'fastify' {
  interface FastifyInstance {
    // The service's metrics (src/observability/metrics.ts), served by GET /metrics (routes/metrics.ts).
    metrics: ServiceMetrics
    // Who may read them: loopback peers, or with METRICS_TOKEN whoever sends it.
    metricsAccess: MetricsAccess
  }
}

// Metrics for Prometheus (docs/operations.md, "Metrics"). Per request: one histogram observation when the
// answer has been sent (by the log controller, through `observeResponse`). Security events: counted from
// the audit record, where each is recorded once. The rest is read when Prometheus scrapes.
export default fp(async function metrics (fastify) {
  const warn = throttled((level, message) => fastify.log[level](message))
  const metrics = new ServiceMetrics({
    tokenCache: fastify.accessTokens,
    hasher: fastify.passwordHasher,
    liveSessions: () => fastify.sessions.countLive(),
    started: () => fastify.readiness.started,
    now: fastify.clock,
    warn: (message) => warn('warn', message)
  })
  fastify.decorate('metrics', metrics)
  fastify.decorate('metricsAccess', new MetricsAccess(fastify.config.METRICS_TOKEN))
  fastify.audit.observe((record) => metrics.record(record))
  // Each completed request, recorded by the server's log controller (src/http/logging.ts, AccessLog) rather
  // than by an onResponse hook: the route's pattern, never the URL; the time Fastify measured.
  fastify.decorate('observeResponse', (method: string, route: string | undefined, statusCode: number, seconds: number) => {
    metrics.observeRequest(method, route, statusCode, seconds)
  })
}, { name: 'metrics', dependencies: ['env', 'readiness', 'services', 'audit', 'authenticate'] })
