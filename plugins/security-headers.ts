import type { onRequestHookHandler, RouteOptions } from 'fastify'
import fp from 'fastify-plugin'
import type { HelmetOptions } from 'helmet'
import { JSON_API_HEADERS, PAGE, securityHeaders } from '../src/http/security-headers.js'

declare module 'fastify' {
  interface RouteShorthandOptions {
    // A route's own security headers: helmet's options laid over its defaults for a document (e.g. a page's CSP).
    helmet?: HelmetOptions
  }
}

// Security headers on every answer Fastify sends (successes, errors, 404s, 429s, 503s): helmet's (the
// `helmet` package, as @fastify/helmet uses it), set for a JSON API that no browser should render, frame or
// load as a resource: a Content-Security-Policy that allows nothing, framing denied, and helmet's other
// defaults (HSTS, nosniff, Referrer-Policy: no-referrer, Cross-Origin-*-Policy: same-origin, …).
//
// Hand-written around helmet rather than @fastify/helmet, because of a benchmark: @fastify/helmet runs
// helmet's middleware on every request, which halved GET / (20k → 45k req/s without it, docs/benchmarks.md).
// The headers do not depend on the request, so they are computed once, by helmet itself, and set with one
// reply.headers() a request. A route that serves something a browser renders gives its own options (the
// route option `helmet`, or a hook from ownSecurityHeaders, which the documentation page uses): laid over
// helmet's defaults for a document, computed once for that route, and replacing these for it only.

// A route-level onRequest hook giving one route its own headers (helmet's options laid over its defaults
// for a document, PAGE), computed once; it runs after the plugin's own hook and replaces what that set.
export function ownSecurityHeaders (options: HelmetOptions): onRequestHookHandler {
  const set = securityHeaders({ ...PAGE, ...options } as HelmetOptions)
  const drop = Object.keys(JSON_API_HEADERS).filter((name) => !(name in set))
  return function routeSecurityHeaders (_request, reply, done) {
    for (const name of drop) reply.removeHeader(name)
    reply.headers(set)
    done()
  }
}

export default fp(async function securityHeadersPlugin (fastify) {
  const common = JSON_API_HEADERS
  fastify.addHook('onRequest', function setSecurityHeaders (_request, reply, done) {
    reply.headers(common)
    done()
  } satisfies onRequestHookHandler)

  // A route with its own options (the route option `helmet`) gets a hook of its own; the others none, so
  // the hot path pays one reply.headers() and nothing else.
  fastify.addHook('onRoute', (route: RouteOptions & { helmet?: HelmetOptions }) => {
    if (route.helmet === undefined) return
    route.onRequest = [ownSecurityHeaders(route.helmet), ...(route.onRequest === undefined ? [] : [route.onRequest].flat())]
  })
}, { name: 'security-headers' })
