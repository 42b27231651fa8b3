import type { FastifyError } from 'fastify'
import fp from 'fastify-plugin'
import { ERROR_CODES, type ErrorCode } from '../src/error-codes.js'
import { DomainError } from '../src/errors.js'
import { errorBody, frameworkErrorCode, HttpError, InvalidTokenError, TooManyAttemptsError, UnavailableError } from '../src/http/errors.js'
import { FlowQueueFullError, QueueFullError } from '../src/passwords/hash-queue.js'
import { routerRefusals } from '../src/http/router-refusals.js'
import { isStoreUnavailable } from '../src/store/database.js'

// RFC 6750 §3: a challenge on every 401 of a protected route, and error="invalid_token" when a token was sent.
const CHALLENGE = 'Bearer realm="auth-service"'
const INVALID_TOKEN_CHALLENGE = CHALLENGE + ', error="invalid_token"'

const mediaType = (header: string | undefined) => header === undefined ? '(none)' : header.split(';')[0].trim().slice(0, 100)

// @fastify/jwt's own refusals (request.jwtVerify()): FST_JWT_* and fast-jwt's FAST_JWT_* codes.
const isJwtPluginError = (err: FastifyError) => typeof err.code === 'string' && /^(FST|FAST)_JWT_/.test(err.code)

// How the HTTP surface fails: every error in one shape, {statusCode, error, message, code}, with a message
// that says what was wrong but never echoes the body, and a code from the table (src/error-codes.ts) whose
// status it is answered with; unknown routes a 404 in that shape. Domain errors become HTTP answers here
// and nowhere else. (A wrong current password is 403, by its code: a 401, without WWW-Authenticate even,
// reads as a refused access token.)
export default fp(async function errorHandling (fastify) {
  // Unknown routes: answered in this (the app's) context, so that its hooks run — the security headers, CORS.
  // Under `fastify start` the app is a plugin of fastify-cli's root instance, whose default 404 handler
  // would answer without them (tests that build the app with skipOverride could not see it). The path is
  // not echoed. A request the router refused is routed here too (src/app.ts): a malformed %-encoding is a
  // 400 (the URL not echoed either); a parameter over the router's limit (longer than any URL Node takes,
  // so only through inject) the 404 of an unknown route.
  fastify.setNotFoundHandler(function notFound (request, reply) {
    const refusal = routerRefusals.get(request.raw)
    if (refusal !== undefined && refusal !== 'FST_ERR_MAX_PARAM_LENGTH') return reply.code(400).send(errorBody('malformed_url', 'Malformed URL: a %-escape that is not valid UTF-8'))
    return reply.code(404).send(errorBody('not_found', 'No such route'))
  })

  fastify.setErrorHandler(function handleError (err: FastifyError, request, reply) {
    const send = (code: ErrorCode, message: string) => reply.code(ERROR_CODES[code].status).send(errorBody(code, message))
    if (err instanceof QueueFullError) {
      // Too many logins already waiting for a hashing slot: shed load rather than queue without bound.
      reply.header('retry-after', '1')
      return send('hash_queue_full', 'Too many logins in progress; retry shortly')
    }
    if (err instanceof FlowQueueFullError) {
      // This client's share of the hashing queue is full: its own excess, not the service's.
      reply.header('retry-after', '1')
      return send('hash_queue_share_full', 'Too many logins in progress from this address; retry shortly')
    }
    if (err instanceof TooManyAttemptsError || err instanceof UnavailableError) {
      reply.header('retry-after', String(err.retryAfterSeconds))
      return send(err.errorCode, err.message)
    }
    if (request.raw.readableAborted) {
      // The client went away before its body arrived. Node reports it as ECONNRESET, the code of a lost
      // database connection too: said as what it is, at debug (anyone can cause one a request), and the
      // answer goes nowhere. Before the store's check, which would read it as an outage.
      request.log.debug({ code: err.code }, 'the client aborted its request')
      return send('bad_request', 'The request was aborted')
    }
    if (isStoreUnavailable(err)) {
      // An outage makes one of these a request: a warning with the reason, not an error with a stack.
      request.log.warn({ code: err.code, reason: err.message }, 'the user store is unavailable')
      // Sooner than REFRESH_REUSE_GRACE (5 s by default): a refresh whose commit went through while its
      // answer was lost with the connection can then be retried inside the window (docs/security.md,
      // "Sessions"; docs/operations.md, "Start-up, health and shutdown").
      reply.header('retry-after', '1')
      return send('unavailable', 'The user store is unavailable; retry shortly')
    }
    if (err instanceof DomainError) {
      if (err.errorCode === 'invalid_token') reply.header('www-authenticate', INVALID_TOKEN_CHALLENGE)
      // An audit event (a wrong current password); otherwise the access line already says the status.
      if (err.event !== undefined) fastify.auditRequest(request, err.event, { reason: err.reason, route: request.routeOptions.url })
      else request.log.debug({ statusCode: ERROR_CODES[err.errorCode].status, userId: request.user?.sub }, err.message)
      return send(err.errorCode, err.message)
    }
    if (err instanceof InvalidTokenError || (err.statusCode === 401 && isJwtPluginError(err))) {
      reply.header('www-authenticate', err instanceof InvalidTokenError && !err.tokenSent ? CHALLENGE : INVALID_TOKEN_CHALLENGE)
      request.log.debug({ statusCode: 401 }, err.message)
      return send(err instanceof InvalidTokenError ? err.errorCode : 'invalid_token', err.message)
    }
    if (err instanceof HttpError) {
      request.log.debug({ statusCode: err.statusCode, code: err.errorCode }, err.message) // the access line says the status at info
      return send(err.errorCode, err.message)
    }
    const statusCode = err.statusCode ?? 500
    const code = frameworkErrorCode(err.code, statusCode)
    if (statusCode >= 500) {
      request.log.error({ err }, 'request failed')
      return send('internal', 'Internal Server Error')
    }
    if (code === undefined) {
      // A client error that src/error-codes.ts has no code for: the client's mistake, so a warning (one a
      // client can cause must not be an error line), and a line the map needs.
      request.log.warn({ statusCode, code: err.code }, 'a client error with no code in src/error-codes.ts: answered 400 bad_request')
      return send('bad_request', 'Bad Request')
    }
    // The media type only, and at most 100 characters of it: the header is the client's, up to 16 KiB.
    const message = code === 'unsupported_media_type'
      ? `Content-Type ${mediaType(request.headers['content-type'])} is not supported; send application/json`
      : err.message
    request.log.debug({ statusCode, code: err.code }, message) // the access line says the status at info
    return send(code, message)
  })
}, { name: 'error-handling', dependencies: ['audit'] })
