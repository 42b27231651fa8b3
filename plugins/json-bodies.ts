import fp from 'fastify-plugin'
import { HttpError } from '../src/http/errors.js'

// The charset parameter of a Content-Type header (unquoted), if it has one.
function charsetOf (contentType: string | undefined): string | undefined {
  const match = contentType?.match(/;\s*charset\s*=\s*(?:"([^"]*)"|([^;\s]*))/i)
  return match === null || match === undefined ? undefined : match[1] ?? match[2]
}

// What the HTTP surface accepts: JSON bodies in UTF-8, nothing else.
export default fp(async function jsonBodies (fastify) {
  // Fastify parses text/plain by default; this service takes JSON only, so anything else is a 415.
  fastify.removeContentTypeParser('text/plain')
  // JSON in UTF-8 only (RFC 8259 §8.1). Fastify reads every application/json body as UTF-8 whatever its
  // charset says, so a body labelled utf-16, latin-1 or a made-up name would be read as something its
  // sender did not mean: 415. No charset, or utf-8 in any case, is read by Fastify's own JSON parser (the
  // empty body, __proto__ and constructor rules as before).
  const parseJson = fastify.getDefaultJsonParser(fastify.initialConfig.onProtoPoisoning ?? 'error', fastify.initialConfig.onConstructorPoisoning ?? 'error')
  fastify.removeContentTypeParser('application/json')
  fastify.addContentTypeParser('application/json', { parseAs: 'string' }, function parseUtf8Json (request, body, done) {
    const charset = charsetOf(request.headers['content-type'])
    if (charset !== undefined && charset.toLowerCase() !== 'utf-8') {
      done(new HttpError('unsupported_media_type', 'Content-Type charset is not UTF-8; send JSON in UTF-8 (charset=utf-8, or none)'), undefined)
      return
    }
    parseJson(request, body as string, done)
  })
}, { name: 'json-bodies' })
