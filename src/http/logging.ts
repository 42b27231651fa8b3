import { LogController, type FastifyBaseLogger, type FastifyReply, type FastifyRequest } from 'fastify'

// Request logging. Fastify writes two lines a request ("incoming request", "request completed") through
// a pino child logger it makes for every request. Here: one line when the request completes, at info,
// with method, route, status, time, request id and user id (when known), through the request's own logger:
// Fastify's child (pino's, made by Fastify's default factory), whose request id pino serialized once when
// the child was made. Through the root logger with the id as a field, the line cost 2,500 instructions
// more (callgrind, docs/benchmarks.md); a lazy child of our own cost 0.4 µs of CPU a request more, because
// Fastify checks a custom factory's every result.
type PinoLogger = FastifyBaseLogger & { isLevelEnabled: (level: string) => boolean }

declare module 'fastify' {
  interface FastifyInstance {
    // Where AccessLog records each completed request's metric (plugins/metrics.ts decorates it).
    observeResponse?: (method: string, route: string | undefined, statusCode: number, seconds: number) => void
  }
}

export class AccessLog extends LogController {
  override incomingRequest () {}
  override routeNotFound () {} // the access line says 404

  // Once a request, when its answer has been sent (or the connection failed): the request's metric, then
  // its access line. The metric is recorded here rather than in an onResponse hook: with no onResponse hook
  // on a route, Fastify calls this directly instead of running a hook chain (measured: 0.4 µs of CPU a
  // protected GET /, docs/benchmarks.md), and the route's pattern is read once for both. The app's
  // `observeResponse` decorator (plugins/metrics.ts) is where the metric goes; an app without it records none.
  override requestCompleted (error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply) {
    const route = request.routeOptions.url // the pattern (/admin/users/:id/disable), never the raw URL
    request.server.observeResponse?.(request.method, route, reply.statusCode, reply.elapsedTime / 1000)
    const log = request.log as PinoLogger
    if (!error && !log.isLevelEnabled('info')) return // nothing to build at warn
    const line = {
      method: request.method,
      route: route ?? null,
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime * 10) / 10,
      userId: (request.user as { sub?: string } | undefined)?.sub
    }
    if (error) log.error({ ...line, err: error }, 'request errored')
    else log.info(line, 'request')
  }
}

// Keys a log call might put a credential under, each censored when present.
const CENSOR = '[redacted]'
const CREDENTIAL_FIELDS = ['password', 'currentPassword', 'newPassword', 'token', 'refreshToken']
const censorFields = (fields: string[]) => (value: unknown) => {
  if (value === null || typeof value !== 'object') return value
  const copy: Record<string, unknown> = { ...(value as Record<string, unknown>) }
  for (const field of fields) if (field in copy) copy[field] = CENSOR
  return copy
}
// Request headers, wherever logged (`headers`: the refused-token line at debug, or by hand), by an
// allow-list: these are logged as they came, every other header by its name with its value censored.
// Credentials travel in many more headers than Authorization and Cookie (Proxy-Authorization, an
// identity-aware proxy's cf-access-jwt-assertion or x-amzn-oidc-data, an oauth2-proxy's
// x-auth-request-access-token, a gateway's x-api-key, …), under names no list could foresee.
// Referer is not among them: a URL can carry a token in its query.
const LOGGED_HEADERS = new Set(['host', 'user-agent', 'accept', 'accept-encoding', 'accept-language', 'content-type',
  'content-length', 'transfer-encoding', 'connection', 'origin', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host',
  'x-forwarded-port', 'forwarded', 'via', 'x-request-id'])
const allowedHeaders = (value: unknown) => {
  if (value === null || typeof value !== 'object') return value
  const logged: Record<string, unknown> = {}
  for (const [name, header] of Object.entries(value as Record<string, unknown>)) logged[name] = LOGGED_HEADERS.has(name.toLowerCase()) ? header : CENSOR
  return logged
}
export const CREDENTIAL_SERIALIZERS: Record<string, (value: unknown) => unknown> = {
  authorization: () => CENSOR,
  cookie: () => CENSOR,
  headers: allowedHeaders,
  body: censorFields(CREDENTIAL_FIELDS),
  ...Object.fromEntries(CREDENTIAL_FIELDS.map((field) => [field, () => CENSOR]))
}
