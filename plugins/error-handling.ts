import type { FastifyError } from 'fastify'
import fp from 'fastify-plugin'
import { DomainError, type DomainErrorKind } from '../src/errors.js'
import { errorBody, HttpError, InvalidTokenError, TooManyAttemptsError, UnavailableError } from '../src/http/errors.js'
import { FlowQueueFullError, QueueFullError } from '../src/passwords/hash-queue.js'
import { routerRefusals } from '../src/http/router-refusals.js'
import { isStoreUnavailable } from '../src/store/database.js'

// RFC 6750 §3: a challenge on every 401 of a protected route, and error="invalid_token" when a token was sent.
const CHALLENGE = 'Bearer realm="auth-service"'
const INVALID_TOKEN_CHALLENGE = CHALLENGE + ', error="invalid_token"'

// A wrong current password is 403: a 401 (without WWW-Authenticate, even) reads as a refused access token.
const DOMAIN_STATUS: Record<DomainErrorKind, number> = { invalid: 400, 'wrong-credentials': 403, 'token-refused': 401, 'not-found': 404, conflict: 409 }

// @fastify/jwt's own refusals (request.jwtVerify()): FST_JWT_* and fast-jwt's FAST_JWT_* codes.
const isJwtPluginError = (err: FastifyError) => typeof err.code === 'string' && /^(FST|FAST)_JWT_/.test(err.code)

// How the HTTP surface fails: every error in one shape, {statusCode, error, message}, with a message that
// says what was wrong but never echoes the body, and unknown routes a 404 in that shape. Domain errors
// become HTTP answers here and nowhere else.
export default fp(async function errorHandling (fastify) {
  // Unknown routes: answered in this (the app's) context, so that its hooks run — the security headers, CORS.
  // Under `fastify start` the app is a plugin of fastify-cli's root instance, whose default 404 handler
  // would answer without them (tests that build the app with skipOverride could not see it). The path is
  // not echoed. A request the router refused is routed here too (src/app.ts): a malformed %-encoding is a
  // 400 (the URL not echoed either); a parameter over the router's limit (longer than any URL Node takes,
  // so only through inject) the 404 of an unknown route.
  fastify.setNotFoundHandler(function notFound (request, reply) {
    const refusal = routerRefusals.get(request.raw)
    if (refusal !== undefined && refusal !== 'FST_ERR_MAX_PARAM_LENGTH') return reply.code(400).send(errorBody(400, 'Malformed URL: a %-escape that is not valid UTF-8'))
    return reply.code(404).send(errorBody(404, 'No such route'))
  })

  fastify.setErrorHandler(function handleError (err: FastifyError, request, reply) {
    if (err instanceof QueueFullError) {
      // Too many logins already waiting for a hashing slot: shed load rather than queue without bound.
      reply.header('retry-after', '1')
      return reply.code(503).send(errorBody(503, 'Too many logins in progress; retry shortly'))
    }
    if (err instanceof FlowQueueFullError) {
      // This client's share of the hashing queue is full: its own excess, not the service's.
      reply.header('retry-after', '1')
      return reply.code(429).send(errorBody(429, 'Too many logins in progress from this address; retry shortly'))
    }
    if (err instanceof TooManyAttemptsError) {
      reply.header('retry-after', String(err.retryAfterSeconds))
      return reply.code(429).send(errorBody(429, err.message))
    }
    if (err instanceof UnavailableError) {
      reply.header('retry-after', String(err.retryAfterSeconds))
      return reply.code(503).send(errorBody(503, err.message))
    }
    if (isStoreUnavailable(err)) {
      // An outage makes one of these a request: a warning with the reason, not an error with a stack.
      request.log.warn({ code: err.code, reason: err.message }, 'the user store is unavailable')
      // Sooner than REFRESH_REUSE_GRACE (5 s by default): a refresh whose commit went through while its
      // answer was lost with the connection can then be retried inside the window (docs/security.md,
      // "Sessions"; docs/operations.md, "Start-up, health and shutdown").
      reply.header('retry-after', '1')
      return reply.code(503).send(errorBody(503, 'The user store is unavailable; retry shortly'))
    }
    if (err instanceof DomainError) {
      const statusCode = DOMAIN_STATUS[err.kind]
      if (err.kind === 'token-refused') reply.header('www-authenticate', INVALID_TOKEN_CHALLENGE)
      // An audit event (a wrong current password); otherwise the access line already says the status.
      if (err.event !== undefined) fastify.auditRequest(request, err.event, { reason: err.reason, route: request.routeOptions.url })
      else request.log.debug({ statusCode, userId: request.user?.sub }, err.message)
      return reply.code(statusCode).send(errorBody(statusCode, err.message))
    }
    if (err instanceof InvalidTokenError || (err.statusCode === 401 && isJwtPluginError(err))) {
      reply.header('www-authenticate', err instanceof InvalidTokenError && !err.tokenSent ? CHALLENGE : INVALID_TOKEN_CHALLENGE)
      request.log.debug({ statusCode: 401 }, err.message)
      return reply.code(401).send(errorBody(401, err.message))
    }
    const statusCode = err.statusCode ?? 500
    if (statusCode >= 500 && !(err instanceof HttpError)) {
      request.log.error({ err }, 'request failed')
      return reply.code(500).send(errorBody(500, 'Internal Server Error'))
    }
    const message = err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
      ? `Content-Type ${request.headers['content-type'] ?? '(none)'} is not supported; send application/json`
      : err.message
    request.log.debug({ statusCode, code: err.code }, message) // the access line says the status at info
    return reply.code(statusCode).send(errorBody(statusCode, message))
  })
}, { name: 'error-handling', dependencies: ['audit'] })
