import helmet, { type HelmetOptions } from 'helmet'

// The JSON API's security headers (plugins/security-headers.ts says why and how they are set), as helmet
// computes them, once: the plugin sets them on every answer Fastify sends, and the server's refusals of
// what Node's HTTP parser could not read (src/http/server-options.ts) carry them too.
const JSON_API_CSP = { useDefaults: false, directives: { 'default-src': ["'none'"], 'frame-ancestors': ["'none'"] } }
export const JSON_API: HelmetOptions = { contentSecurityPolicy: JSON_API_CSP, frameguard: { action: 'deny' } }

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
