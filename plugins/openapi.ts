import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { RouteOptions } from 'fastify'
import fp from 'fastify-plugin'
import { ownSecurityHeaders } from './security-headers.js'
import { packageInfo } from '../src/support/package-info.js'

export const DOCS_PREFIX = '/docs'

// The documentation page's Content-Security-Policy: Swagger UI's own scripts and styles from this origin,
// the data: images of its style sheet, and its requests (the document, "Try it out") to this origin.
// Nothing inline, nothing from elsewhere, never framed. The page alone gets it: its scripts, styles and
// the JSON document are answered with the JSON API's policy (plugins/security-headers.ts) like any other
// route. test/docs-browser.test.ts runs the page in Chromium and fails on any CSP violation.
export const DOCS_PAGE_CSP = {
  useDefaults: false,
  directives: {
    'default-src': ["'none'"],
    'script-src': ["'self'"],
    'style-src': ["'self'"],
    'img-src': ["'self'", 'data:'],
    'connect-src': ["'self'"],
    'base-uri': ["'none'"],
    'form-action': ["'none'"],
    'frame-ancestors': ["'none'"]
  }
}

// The operations, grouped.
const TAGS = [
  { name: 'tokens', description: 'Logging in, refreshing and ending sessions' },
  { name: 'account', description: "The caller's own account and sessions" },
  { name: 'admin', description: 'User administration (role admin)' },
  { name: 'keys', description: 'What other services need to verify our tokens' },
  { name: 'health', description: 'Liveness and readiness, for orchestrators' },
  { name: 'operations', description: 'Metrics, for Prometheus (loopback peers, or METRICS_TOKEN)' }
]

// OpenAPI 3 from the route schemas (@fastify/swagger), and Swagger UI at /docs with the document at
// /docs/json (and /docs/yaml); DOCS_ENABLED=false serves neither. @fastify/swagger learns the routes
// through an onRoute hook, so it is registered here, with the plugins, before any route (routes/ is loaded
// after plugins/; no plugin adds a route but @fastify/cors's hidden preflight). Every response code a
// route can send is in its schema (plugins/route-contract.ts); the bearer scheme is `bearerAuth`.
export default fp(async function openapi (fastify) {
  const { DOCS_ENABLED, PUBLIC_URL } = fastify.config
  if (!DOCS_ENABLED) return
  const pkg = packageInfo()

  // Where "Try it out" sends requests: a relative server, so that the page calls the origin it was opened
  // at, whichever that is (http://127.0.0.1:3000, http://localhost:3000, a proxy's name): its own policy
  // allows no other (connect-src 'self'). "/", or PUBLIC_URL's path when the service is published under one
  // (https://example.com/auth: "/auth"). Never the request's Host or X-Forwarded-Host.
  const servers = [{ url: PUBLIC_URL === undefined ? '/' : new URL(PUBLIC_URL).pathname.replace(/(.)\/+$/, '$1') }]

  await fastify.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: pkg.name, version: pkg.version, description: pkg.description },
      servers,
      tags: TAGS,
      components: {
        securitySchemes: {
          bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'The `token` of POST /login or POST /token/refresh' }
        }
      }
    },
    stripBasePath: false,
    // Schemas with an $id (ErrorResponse) are components named by it, not def-0, def-1…
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => typeof json.$id === 'string' ? json.$id : `def-${i}` }
  })

  // Only the page itself gets the documentation page's policy, through a route-level hook of its own
  // (plugins/security-headers.ts), which replaces the JSON API's headers for it.
  const pageHeaders = ownSecurityHeaders({ contentSecurityPolicy: DOCS_PAGE_CSP })
  fastify.addHook('onRoute', (route: RouteOptions) => {
    if (route.url === DOCS_PREFIX || route.url === `${DOCS_PREFIX}/`) {
      route.onRequest = [pageHeaders, ...(route.onRequest === undefined ? [] : [route.onRequest].flat())]
    }
  })

  await fastify.register(swaggerUi, {
    routePrefix: DOCS_PREFIX,
    // BaseLayout: the operations without Swagger UI's top bar, whose logo is an inline SVG with a <style>
    // element (which the policy refuses) and whose box would point the page at any other document.
    uiConfig: { layout: 'BaseLayout', deepLinking: true, persistAuthorization: false, displayRequestDuration: true }
  })
}, { name: 'openapi', dependencies: ['env'] })
