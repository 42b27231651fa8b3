import { LogController, type FastifyBaseLogger, type FastifyReply, type FastifyRequest } from 'fastify'
import pino from 'pino'

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
    const line: AccessFields = {
      method: request.method,
      route: route ?? null,
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime * 10) / 10,
      userId: (request.user as { sub?: string } | undefined)?.sub
    }
    if (error) log.error({ ...line, err: error }, 'request errored')
    else if (!writeAccessLine(log as unknown as PinoInternals, line)) log.info(line, 'request')
  }
}

// The access line, written as pino itself would write `log.info(line, 'request')`: the same bytes (pino's
// level prefix, time and child bindings, then the fields in this order, then the message), to the same
// stream. Hand-assembled because pino's general path costs half as much again (19,700 instructions a
// line against 13,050, callgrind, docs/benchmarks.md): it escapes every key and value through
// JSON.stringify and looks each key up among serializers and stringifiers. Only where nothing in the
// logger could change the line: a logger that is not this pino, or has a mixin, a message prefix, a log
// formatter, a nested key, a stream-write hook, a stream that wants metadata (multistream), or a
// serializer or redaction for one of these keys, gets pino's own path. Returns whether it wrote.
const S = pino.symbols
const MSG_PREFIX = (pino.symbols as unknown as Record<string, symbol>).msgPrefixSym // not in pino's types
const INFO = 30
const ACCESS_KEYS = ['method', 'route', 'status', 'ms', 'userId', 'msg']
type AccessFields = { method: string, route: string | null, status: number, ms: number, userId: string | undefined }
type PinoInternals = Record<symbol, unknown> & {
  [S.chindingsSym]?: string
  [S.lsCacheSym]: Record<number, string>
  [S.timeSym]: () => string
  [S.streamSym]: { write: (line: string) => unknown, [key: symbol]: unknown }
  [S.endSym]: string
  [S.serializersSym]: Record<string, unknown>
  [S.stringifiersSym]: Record<string | symbol, unknown>
  [S.formattersSym]: { log?: unknown }
  [S.hooksSym]: { streamWrite?: unknown }
}
// A string as JSON: quoted as it is when it holds nothing JSON escapes (a method, a route pattern, a
// UUID), otherwise JSON.stringify's: the line costs 700 instructions less than with JSON.stringify for all.
const PLAIN = /^[\w\-./:*]*$/
const jsonString = (value: string) => PLAIN.test(value) ? '"' + value + '"' : JSON.stringify(value)
export function writeAccessLine (log: PinoInternals, fields: AccessFields): boolean {
  const bindings = log[S.chindingsSym]
  if (typeof bindings !== 'string' || log[S.messageKeySym] !== 'msg' || log[S.nestedKeySym] || log[S.mixinSym] ||
    log[MSG_PREFIX] !== undefined || log[S.formattersSym].log || log[S.hooksSym].streamWrite) return false
  const stream = log[S.streamSym]
  const serializers = log[S.serializersSym]
  const stringifiers = log[S.stringifiersSym]
  if (stream[S.needsMetadataGsym] === true || stringifiers[S.wildcardFirstSym]) return false
  for (const key of ACCESS_KEYS) if (serializers[key] || stringifiers[key]) return false
  stream.write(log[S.lsCacheSym][INFO] + log[S.timeSym]() + bindings +
    ',"method":' + jsonString(fields.method) +
    ',"route":' + (fields.route === null ? 'null' : jsonString(fields.route)) +
    ',"status":' + fields.status + ',"ms":' + (Number.isFinite(fields.ms) ? fields.ms : 'null') + // pino's rule for numbers
    (fields.userId === undefined ? '' : ',"userId":' + jsonString(fields.userId)) +
    ',"msg":"request"' + log[S.endSym])
  return true
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
