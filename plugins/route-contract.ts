import type { RouteOptions } from 'fastify'
import fp from 'fastify-plugin'
import { errorAnswer, ErrorResponse } from '../src/http/schemas.js'

// Methods whose requests Fastify reads a body for (with any Content-Type header): on these, any route can
// answer 400 (malformed JSON), 413 (over the body limit) and 415 (not JSON), whatever its own schema says.
const BODY_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE'])

const asList = (value: unknown): unknown[] => value === undefined ? [] : Array.isArray(value) ? value : [value]

// The answers every route's schema must list besides its own (docs/http-api.md, "HTTP contract"), added in one place
// rather than in each route: the codes that plugins send on a route (plugins/error-handling.ts, rate-limit,
// under-pressure, readiness, authenticate, the server's drain). Each is the usual error body, described,
// with Retry-After on 429 and 503. A code the route lists already keeps its schema (only a bare
// ErrorResponse gets the description); the route's own codes come first. Routes that check a token
// (onRequest: [fastify.authenticate]) also say that they take a bearer token (`security`, OpenAPI's
// bearerAuth). Hidden routes (schema.hide: the docs page's files, the CORS preflight) are left alone.
//
// The schemas are the route's response schemas at run time too: these answers are serialized by them, in
// the same shape {statusCode, error, message, code} (under-pressure's 503 sets its own serializer).
export default fp(async function routeContract (fastify) {
  const bodyLimitKiB = Math.round(fastify.initialConfig.bodyLimit! / 1024)

  fastify.addHook('onRoute', (route: RouteOptions) => {
    const schema = route.schema ?? {}
    if (schema.hide === true) return
    const methods = asList(route.method) as string[]
    const onRequest = asList(route.onRequest)
    const authenticated = onRequest.includes(fastify.authenticate)
    const started = authenticated || onRequest.includes(fastify.requireStarted)
    const config = route.config as { rateLimit?: unknown, pressureHandler?: unknown } | undefined
    const pressured = config?.pressureHandler === undefined
    const hasBody = methods.some((method) => BODY_METHODS.has(method))
    const hasParams = schema.params !== undefined || route.url.includes(':')

    const common: Record<number, string> = {}
    if (hasBody || schema.params !== undefined || schema.querystring !== undefined) {
      common[400] = 'Bad request: malformed JSON, or a field or parameter missing, mistyped, unknown or out of bounds (the message says which)'
    }
    if (authenticated) common[401] = 'No access token, or one that is invalid or expired, or whose session has ended (see WWW-Authenticate)'
    if (hasParams) common[404] = 'No such resource'
    if (hasBody) {
      common[413] = `The body is over ${bodyLimitKiB} KiB`
      common[415] = 'The body is not application/json'
    }
    if (config?.rateLimit !== undefined) common[429] = 'Too many requests from this address; retry after Retry-After seconds'
    common[503] = !pressured
      ? 'The service is shutting down; retry after Retry-After seconds'
      : `The service cannot answer now (${started ? 'still starting, ' : ''}overloaded, its store unreachable, or shutting down); retry after Retry-After seconds`

    const own = (schema.response ?? {}) as Record<string, unknown>
    const response: Record<string, unknown> = {}
    for (const [code, answer] of Object.entries(own)) {
      response[code] = answer === ErrorResponse ? errorAnswer(common[Number(code)] ?? GENERIC[code] ?? 'Error', { retryAfter: code === '429' || code === '503' }) : answer
    }
    for (const [code, description] of Object.entries(common)) {
      response[code] ??= errorAnswer(description, { retryAfter: code === '429' || code === '503' })
    }
    route.schema = {
      ...schema,
      response,
      ...(authenticated && schema.security === undefined && { security: [{ bearerAuth: [] }] })
    }
  })
}, { name: 'route-contract', dependencies: ['readiness', 'authenticate', 'rate-limit', 'under-pressure'] })

// Descriptions of codes a route lists itself (with a bare ErrorResponse) that no plugin adds.
const GENERIC: Record<string, string> = {
  401: 'Refused credentials',
  403: 'The access token lacks the role this needs',
  404: 'No such resource',
  409: 'Conflicts with the current state (the message says how)',
  429: 'Too many attempts; retry after Retry-After seconds'
}
