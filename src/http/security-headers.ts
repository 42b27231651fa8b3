import helmet, { type HelmetOptions } from 'helmet'

// The JSON API's security headers (plugins/security-headers.ts says why and how they are set), as helmet
// computes them, once: the plugin sets them on every answer Fastify sends, and the server's refusals of
// what Node's HTTP parser could not read (src/http/server-options.ts) carry them too.
const JSON_API_CSP = { useDefaults: false, directives: { 'default-src': ["'none'"], 'frame-ancestors': ["'none'"] } }
// A JSON API answer carries what OWASP's REST Security Cheat Sheet ("Security headers") lists for API
// responses: a Content-Security-Policy that allows nothing and no framing (`frame-ancestors 'none'`),
// X-Frame-Options: DENY, X-Content-Type-Options: nosniff and Strict-Transport-Security (Content-Type is
// Fastify's; Cache-Control: no-store is set where an answer holds a secret: the token answers). helmet's
// other defaults govern how a browser treats a document it renders, which a JSON answer under nosniff and
// that CSP never is (docs/security.md, "Security headers", says each one and why): referrer policy (no
// links), DNS prefetch (no links), IE's download prompt, Flash/PDF cross-domain policies, the XSS auditor
// (off anyway), origin-keyed agent clusters and the opener policy (for windows), and
// Cross-Origin-Resource-Policy (a cross-origin no-cors load can carry no Bearer token, so it can read
// nothing a stranger could not). Each costs a header on every answer (measured: docs/benchmarks.md).
const JSON_API: HelmetOptions = {
  contentSecurityPolicy: JSON_API_CSP,
  frameguard: { action: 'deny' },
  crossOriginOpenerPolicy: false,
  crossOriginResourcePolicy: false,
  originAgentCluster: false,
  referrerPolicy: false,
  xDnsPrefetchControl: false,
  xDownloadOptions: false,
  xPermittedCrossDomainPolicies: false,
  xXssProtection: false
}
// A page a browser renders (the documentation page): helmet's defaults, with framing denied; the page
// gives its own CSP on top.
export const PAGE: HelmetOptions = { contentSecurityPolicy: JSON_API_CSP, frameguard: { action: 'deny' } }

// The headers helmet would set with `options`, collected by running its middleware once on a stand-in.
export function securityHeaders (options: HelmetOptions): Record<string, string> {
  const headers: Record<string, string> = {}
  const res = {
    setHeader (name: string, value: unknown) { headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value) },
    removeHeader (name: string) { delete headers[name.toLowerCase()] },
    getHeader (name: string) { return headers[name.toLowerCase()] }
  }
  helmet(options)({} as never, res as never, () => {})
  return headers
}

// The JSON API's headers, computed once: set on every answer (plugins/security-headers.ts) and on those the
// server gives outside Fastify (src/http/outside-fastify.ts).
export const JSON_API_HEADERS: Readonly<Record<string, string>> = Object.freeze(securityHeaders(JSON_API))
