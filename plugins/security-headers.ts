import helmet from '@fastify/helmet'
import fp from 'fastify-plugin'

// Security headers on every answer Fastify sends (successes, errors, 404s, 429s, 503s), set by
// @fastify/helmet in an onRequest hook registered before any other plugin's hook can answer. The service
// answers JSON (and a text greeting) that no browser should render, frame or load as a resource, so the
// Content-Security-Policy allows nothing at all; the rest are helmet's defaults (HSTS, nosniff,
// Referrer-Policy: no-referrer, Cross-Origin-*-Policy: same-origin, …), with framing denied outright.
//
// A route that serves something a browser renders (a documentation page, later) sets its own policy with
// @fastify/helmet's route option, which replaces these options for that route only, e.g.:
//   fastify.get('/docs', { helmet: { contentSecurityPolicy: { useDefaults: false, directives: {
//     'default-src': ["'self'"], 'frame-ancestors': ["'none'"] } } } }, handler)
// (or `helmet: false` to send none of these headers at all; `reply.helmet(options)` applies them by hand).
export const JSON_API_CSP = { useDefaults: false, directives: { 'default-src': ["'none'"], 'frame-ancestors': ["'none'"] } }

export default fp(async function securityHeaders (fastify) {
  await fastify.register(helmet, {
    global: true,
    contentSecurityPolicy: JSON_API_CSP,
    frameguard: { action: 'deny' }
  })
}, { name: 'security-headers' })
