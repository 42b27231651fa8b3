import type { FastifyError } from 'fastify'
import fp from 'fastify-plugin'
import { errorBody, HttpError } from '../src/errors.js'
import { QueueFullError } from '../src/limiter.js'
import { isStoreUnavailable } from '../src/store/database.js'

// What the HTTP surface accepts and how it fails: JSON bodies only, and every error in one shape,
// {statusCode, error, message}, with a message that says what was wrong but never echoes the body.
export default fp(async function http (fastify) {
  // Fastify parses text/plain by default; this service takes JSON only, so anything else is a 415.
  fastify.removeContentTypeParser('text/plain')

  fastify.setErrorHandler(function handleError (err: FastifyError, request, reply) {
    if (err instanceof QueueFullError) {
      // Too many logins already waiting for a hashing slot: shed load rather than queue without bound.
      reply.header('retry-after', '1')
      return reply.code(503).send(errorBody(503, 'Too many logins in progress; retry shortly'))
    }
    if (isStoreUnavailable(err)) {
      request.log.error({ err }, 'the user store is unavailable')
      reply.header('retry-after', '5')
      return reply.code(503).send(errorBody(503, 'The user store is unavailable; retry shortly'))
    }
    const statusCode = err.statusCode ?? 500
    if (statusCode >= 500 && !(err instanceof HttpError)) {
      request.log.error({ err }, 'request failed')
      return reply.code(500).send(errorBody(500, 'Internal Server Error'))
    }
    const message = err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE'
      ? `Content-Type ${request.headers['content-type'] ?? '(none)'} is not supported; send application/json`
      : err.message
    request.log.info({ statusCode, code: err.code }, message)
    return reply.code(statusCode).send(errorBody(statusCode, message))
  })
}, { name: 'http' })
