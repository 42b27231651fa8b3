import type { FastifyError, FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify'
import { createServer, maxHeaderSize } from 'node:http'
import { loadServerSettings } from '../config/load.js'
import type { TrustProxy } from '../config/rules.js'
import { draining, trackConnections } from './draining.js'
import { AccessLog, CREDENTIAL_SERIALIZERS } from './logging.js'
import { errorBody } from './errors.js'
import { clientError, expectationFailed, refuse, refusedForNoHost, refuseConnect } from './outside-fastify.js'
import { ROUTER_REFUSED_PATH, routerRefusals } from './router-refusals.js'

// Node's HTTP timeouts. requestTimeout bounds the time to receive a whole request (headers and body,
// 16 KiB at most), headersTimeout the headers alone; neither applies once the request has arrived, so a
// login waiting in the hash queue, or a long-lived response, is never cut. Node checks them every
// connectionsCheckingInterval (30 s by default, so a timeout could bite 30 s late): every second here.
// They are given to http.createServer itself: Fastify's own `requestTimeout` option is assigned after the
// server is made, which leaves Node's headersTimeout at 60 s, above requestTimeout; measured, a connection
// trickling its body then stayed open past 40 s with requestTimeout at 3 s.
export const REQUEST_TIMEOUT_MS = 10_000
export const HEADERS_TIMEOUT_MS = 5_000
const KEEP_ALIVE_TIMEOUT_MS = 72_000 // Fastify's default, which serverFactory would otherwise drop

const OPTIONS_APPLIED = new WeakSet<object>()
// The trustProxy each server was made with, checked against TRUST_PROXY once the configuration is loaded.
const TRUST_PROXY_APPLIED = new WeakMap<object, unknown>()
const BODY_LIMIT = 16 * 1024

function ownOptionsApplied (applied: FastifyServerOptions): boolean {
  const ajv = applied.ajv?.customOptions as { coerceTypes?: unknown, removeAdditional?: unknown } | undefined
  const logger = applied.logger as { isLevelEnabled?: unknown } | undefined
  return applied.bodyLimit === BODY_LIMIT &&
    ajv?.coerceTypes === false && ajv?.removeAdditional === false &&
    applied.logController === options.logController && applied.childLoggerFactory === undefined &&
    applied.frameworkErrors === options.frameworkErrors && applied.clientErrorHandler === options.clientErrorHandler && applied.routerOptions?.maxParamLength === ROUTER_OPTIONS.maxParamLength &&
    typeof logger?.isLevelEnabled === 'function' && applied.return503OnClosing === false
}

// The router takes a path parameter of any length (its default refuses one over 100 characters with a raw
// 414 of its own, before any hook): an id is unknown (404) whatever its length, answered by its route. No
// URL can be longer than Node's header limit, so no parameter exceeds this; no route has a regular
// expression for a long parameter to be slow on.
const ROUTER_OPTIONS = { maxParamLength: maxHeaderSize }

// What the router refuses before any route or hook (FST_ERR_BAD_URL: a malformed %-encoding) Fastify would
// answer itself, in its own shape and without the security headers, an access line or a metric: the
// request is routed again instead, to the app's not-found handler, which answers 400 in the service's
// shape through the app's hooks (src/http/router-refusals.ts). Under `fastify start` the app is an encapsulated
// plugin of fastify-cli's root instance, whose hooks are not the app's; the router is one for both, so
// routing again from the root reaches the app's not-found handler, in the app's context.
function frameworkErrors (err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const raw = request.raw
  if (routerRefusals.has(raw)) { // refused twice: cannot happen, ROUTER_REFUSED_PATH routes
    reply.code(400).send(errorBody('malformed_url', 'Malformed URL'))
    return
  }
  routerRefusals.set(raw, err.code)
  raw.url = ROUTER_REFUSED_PATH
  request.server.routing(raw, reply.raw)
}

// TRUST_PROXY (docs/security.md, "Client addresses behind a proxy") is a server option: which peers may tell us the
// client's address in X-Forwarded-For, and so whose address request.ip (the rate limits' key) is. Read from
// the environment now, when fastify-cli imports this module (after loading .env). A bad value is not thrown
// here, where fastify-cli would print it with a stack: app() checks the whole environment first and stops
// the start with one line naming the variable. Left out when false, so that server options given by the
// caller (the tests' helper, from its own env) are not overridden by this process's environment.
const trustProxy = ((): TrustProxy => {
  try {
    return loadServerSettings().trustProxy
  } catch {
    return false // reported by app()
  }
})()

// Server options, used by `fastify start -o` and by the tests through fastify-cli's helper alike. The app
// refuses to start without them (see below).
export const options: FastifyServerOptions = {
  ...(trustProxy !== false && { trustProxy }),
  serverFactory: (handler, applied) => {
    // A new request while the server drains (plugins/shutdown.ts) is answered 503 with Retry-After
    // (Fastify's own 503 on closing has none); one Node would refuse, in the service's shape
    // (src/http/outside-fastify.ts).
    const server = createServer({ requestTimeout: REQUEST_TIMEOUT_MS, headersTimeout: HEADERS_TIMEOUT_MS, connectionsCheckingInterval: 1000, requireHostHeader: false }, (req, res) => {
      if (refusedForNoHost(req, res)) return
      if (!draining.has(server)) return handler(req, res)
      refuse(res, 'shutting_down', 'The service is shutting down; retry shortly', { 'retry-after': '1' })
    })
    server.on('checkExpectation', expectationFailed)
    server.on('connect', refuseConnect)
    server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS
    trackConnections(server) // a shutdown answers every request it accepted (src/http/draining.ts)
    // Fastify hands the factory the options it was given, as it will use them: the app starts only if
    // these are the options below, whole (see app()), not a hand-made subset of them.
    if (ownOptionsApplied(applied as FastifyServerOptions)) OPTIONS_APPLIED.add(server)
    TRUST_PROXY_APPLIED.set(server, (applied as FastifyServerOptions).trustProxy ?? false)
    return server
  },
  logger: {
    // Credentials are censored by serializers of the keys that can carry them, not by pino's `redact`
    // paths: a serializer runs only on a line that has its key, while redaction ran over every line (3 %
    // of the service's CPU under load at info level, measured), although almost none carries a secret.
    // Fastify's own `req` serializer logs no headers or bodies; these keys cover anything logged by hand.
    serializers: CREDENTIAL_SERIALIZERS
  },
  // One access line a request, written when it completes, instead of Fastify's two (see AccessLog).
  logController: new AccessLog(),
  ajv: {
    customOptions: {
      removeAdditional: false, // an unknown field is an error, not something to drop silently
      coerceTypes: false // {"password": 123} is a mistake to report, not a string to make up
    }
  },
  bodyLimit: BODY_LIMIT, // credentials are small; a large body is a mistake or an attack
  routerOptions: ROUTER_OPTIONS,
  frameworkErrors,
  clientErrorHandler: clientError,
  return503OnClosing: false // answered by the server factory instead, with Retry-After
}

// Whether the server was made by the serverFactory above with these options, whole; and the trustProxy it
// was made with.
export const ownOptionsOn = (server: object): boolean => OPTIONS_APPLIED.has(server)
export const trustProxyOn = (server: object): unknown => TRUST_PROXY_APPLIED.get(server)

// The server must trust exactly the proxies TRUST_PROXY names: fastify-cli's own --trust-proxy-* options
// (or FASTIFY_TRUST_PROXY_* variables), or server options given by an embedding program, could otherwise
// make request.ip, and with it every rate limit, something other than what the configuration says.
export function checkTrustProxy (applied: unknown, configured: TrustProxy) {
  if (applied === configured) return
  throw new Error(`env/TRUST_PROXY is ${JSON.stringify(String(configured))} but the server was made with trustProxy ${JSON.stringify(applied)}: ` +
    'set TRUST_PROXY alone (not fastify-cli\'s --trust-proxy-* options), and start with `fastify start -o dist/src/app.js`')
}
