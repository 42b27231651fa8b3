// First: refuses an unsupported Node.js before any native module loads (src/supported-node.ts).
import './supported-node.js'
import AutoLoad from '@fastify/autoload'
import { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify'
import type { Bindings, ChildLoggerOptions } from 'fastify/types/logger.js'
import { createServer, maxHeaderSize } from 'node:http'
import { join } from 'node:path'
import type { EnvPluginOptions } from '../plugins/env.js'
import type { ReadinessOptions } from '../plugins/readiness.js'
import type { StoreOptions } from '../plugins/store.js'
import { trustProxyWarning, type TrustProxy } from './config.js'
import { draining, trackConnections } from './draining.js'
import { loadConfig, loadServerSettings } from './load-config.js'
import { ROUTER_REFUSED_PATH, routerRefusals } from './router-refusals.js'

// Both in the source tree (src/app.ts) and in the build (dist/src/app.js), plugins/ and routes/
// sit beside src/.
const root = join(import.meta.dirname, '..')

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

// Request logging. Fastify writes two lines a request ("incoming request", "request completed") through
// a pino child logger it makes for every request. Here: one line when the request completes, at info,
// with method, route, status, time, request id and user id (when known), through the root logger; and a
// request's child logger is made only if something logs through it (an error, a refused token at debug).
type PinoLogger = FastifyBaseLogger & { isLevelEnabled: (level: string) => boolean }

class AccessLog extends LogController {
  override incomingRequest () {}
  override routeNotFound () {} // the access line says 404

  override requestCompleted (error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply) {
    const log = request.server.log as PinoLogger
    if (!error && !log.isLevelEnabled('info')) return // nothing to build at warn
    const line = {
      reqId: request.id,
      method: request.method,
      route: request.routeOptions.url ?? null, // the pattern (/admin/users/:id/disable), never the raw URL
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime * 10) / 10,
      userId: (request.user as { sub?: string } | undefined)?.sub
    }
    if (error) log.error({ ...line, err: error }, 'request errored')
    else log.info(line, 'request')
  }
}

type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace'

// A request's logger, made real (a pino child with the request id) on its first line at an enabled level.
// Methods live on the prototype: nothing but this small object is allocated for a request that logs nothing.
class LazyChildLogger {
  readonly #parent: PinoLogger
  readonly #bindings: Bindings
  #child?: PinoLogger
  constructor (parent: PinoLogger, bindings: Bindings) {
    this.#parent = parent
    this.#bindings = bindings
  }

  #real (): PinoLogger { return (this.#child ??= this.#parent.child(this.#bindings) as PinoLogger) }
  #log (level: Level, args: unknown[]) {
    if ((this.#child ?? this.#parent).isLevelEnabled(level)) (this.#real()[level] as (...a: unknown[]) => void)(...args)
  }

  fatal (...args: unknown[]) { this.#log('fatal', args) }
  error (...args: unknown[]) { this.#log('error', args) }
  warn (...args: unknown[]) { this.#log('warn', args) }
  info (...args: unknown[]) { this.#log('info', args) }
  debug (...args: unknown[]) { this.#log('debug', args) }
  trace (...args: unknown[]) { this.#log('trace', args) }
  silent () {}
  child (bindings: Bindings, opts?: ChildLoggerOptions) { return this.#real().child(bindings, opts) }
  isLevelEnabled (level: string) { return (this.#child ?? this.#parent).isLevelEnabled(level) }
  get level () { return (this.#child ?? this.#parent).level }
  set level (level: string) { this.#real().level = level }
}

function lazyChildLogger (parent: FastifyBaseLogger, bindings: Bindings, opts: ChildLoggerOptions): FastifyBaseLogger {
  // A route with its own log level or serializers gets its child at once.
  if (opts.level !== undefined || opts.serializers !== undefined) return parent.child(bindings, opts)
  return new LazyChildLogger(parent as PinoLogger, bindings) as unknown as FastifyBaseLogger
}

// Keys a log call might put a credential under, each censored when present.
const CENSOR = '[redacted]'
const CREDENTIAL_FIELDS = ['password', 'currentPassword', 'newPassword', 'token', 'refreshToken']
const censorFields = (fields: string[]) => (value: unknown) => {
  if (value === null || typeof value !== 'object') return value
  const copy: Record<string, unknown> = { ...(value as Record<string, unknown>) }
  for (const field of fields) if (field in copy) copy[field] = CENSOR
  return copy
}
// Request headers, wherever logged (`headers`: the refused-token line at debug, or by hand), by an
// allow-list: these are logged as they came, every other header by its name with its value censored.
// Credentials travel in many more headers than Authorization and Cookie (Proxy-Authorization, an
// identity-aware proxy's cf-access-jwt-assertion or x-amzn-oidc-data, an oauth2-proxy's
// x-auth-request-access-token, a gateway's x-api-key, …), under names no list could foresee.
// Referer is not among them: a URL can carry a token in its query.
const LOGGED_HEADERS = new Set(['host', 'user-agent', 'accept', 'accept-encoding', 'accept-language', 'content-type',
  'content-length', 'transfer-encoding', 'connection', 'origin', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host',
  'x-forwarded-port', 'forwarded', 'via', 'x-request-id'])
const allowedHeaders = (value: unknown) => {
  if (value === null || typeof value !== 'object') return value
  const logged: Record<string, unknown> = {}
  for (const [name, header] of Object.entries(value as Record<string, unknown>)) logged[name] = LOGGED_HEADERS.has(name.toLowerCase()) ? header : CENSOR
  return logged
}
const CREDENTIAL_SERIALIZERS: Record<string, (value: unknown) => unknown> = {
  authorization: () => CENSOR,
  cookie: () => CENSOR,
  headers: allowedHeaders,
  body: censorFields(CREDENTIAL_FIELDS),
  ...Object.fromEntries(CREDENTIAL_FIELDS.map((field) => [field, () => CENSOR]))
}

const OPTIONS_APPLIED = new WeakSet<object>()
// The trustProxy each server was made with, checked against TRUST_PROXY once the configuration is loaded.
const TRUST_PROXY_APPLIED = new WeakMap<object, unknown>()
const BODY_LIMIT = 16 * 1024

function ownOptionsApplied (applied: FastifyServerOptions): boolean {
  const ajv = applied.ajv?.customOptions as { coerceTypes?: unknown, removeAdditional?: unknown } | undefined
  const logger = applied.logger as { isLevelEnabled?: unknown } | undefined
  return applied.bodyLimit === BODY_LIMIT &&
    ajv?.coerceTypes === false && ajv?.removeAdditional === false &&
    applied.logController === options.logController && applied.childLoggerFactory === options.childLoggerFactory &&
    applied.frameworkErrors === options.frameworkErrors && applied.routerOptions?.maxParamLength === ROUTER_OPTIONS.maxParamLength &&
    typeof logger?.isLevelEnabled === 'function' && applied.return503OnClosing === false
}

// What a server that is shutting down answers to a new request (see plugins/shutdown.ts): Fastify's own
// 503 on closing has no Retry-After.
const DRAINING_BODY = JSON.stringify({ statusCode: 503, error: 'Service Unavailable', message: 'The service is shutting down; retry shortly' })

// The router takes a path parameter of any length (its default refuses one over 100 characters with a raw
// 414 of its own, before any hook): an id is unknown (404) whatever its length, answered by its route. No
// URL can be longer than Node's header limit, so no parameter exceeds this; no route has a regular
// expression for a long parameter to be slow on.
const ROUTER_OPTIONS = { maxParamLength: maxHeaderSize }

// What the router refuses before any route or hook (FST_ERR_BAD_URL: a malformed %-encoding) Fastify would
// answer itself, in its own shape and without the security headers, an access line or a metric: the
// request is routed again instead, to the app's not-found handler, which answers 400 in the service's
// shape through the app's hooks (src/router-refusals.ts). Under `fastify start` the app is an encapsulated
// plugin of fastify-cli's root instance, whose hooks are not the app's; the router is one for both, so
// routing again from the root reaches the app's not-found handler, in the app's context.
function frameworkErrors (err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const raw = request.raw
  if (routerRefusals.has(raw)) { // refused twice: cannot happen, ROUTER_REFUSED_PATH routes
    reply.code(400).send({ statusCode: 400, error: 'Bad Request', message: 'Malformed URL' })
    return
  }
  routerRefusals.set(raw, err.code)
  raw.url = ROUTER_REFUSED_PATH
  request.server.routing(raw, reply.raw)
}

// TRUST_PROXY (README, "Client addresses behind a proxy") is a server option: which peers may tell us the
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
    const server = createServer({ requestTimeout: REQUEST_TIMEOUT_MS, headersTimeout: HEADERS_TIMEOUT_MS, connectionsCheckingInterval: 1000 }, (req, res) => {
      if (!draining.has(server)) return handler(req, res)
      res.writeHead(503, { 'content-type': 'application/json; charset=utf-8', 'retry-after': '1', connection: 'close' }).end(DRAINING_BODY)
    })
    server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS
    trackConnections(server) // a shutdown answers every request it accepted (src/draining.ts)
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
  childLoggerFactory: lazyChildLogger,
  ajv: {
    customOptions: {
      removeAdditional: false, // an unknown field is an error, not something to drop silently
      coerceTypes: false // {"password": 123} is a mistake to report, not a string to make up
    }
  },
  bodyLimit: BODY_LIMIT, // credentials are small; a large body is a mistake or an attack
  routerOptions: ROUTER_OPTIONS,
  frameworkErrors,
  return503OnClosing: false // answered by the server factory instead, with Retry-After
}

export default async function app (fastify: FastifyInstance, opts: EnvPluginOptions & StoreOptions & ReadinessOptions) {
  // `fastify start` without -o would run the app with Fastify's defaults: a 1 MiB body limit, type
  // coercion, unknown fields dropped silently, no log redaction, no request timeouts. No silent downgrade.
  if (!OPTIONS_APPLIED.has(fastify.server)) {
    return startupFailed(fastify, opts, new Error('the server options were not applied: start the service with `fastify start -o dist/src/app.js`, as `npm start` does'))
  }
  try {
    // The environment as the env plugin will read it (opts.env laid over process.env), checked whole
    // before anything starts: the schema and the rules between variables, as the env plugin and
    // `auth-service config check` check it.
    const env = { ...process.env, ...opts.env }
    const config = loadConfig(env)
    checkTrustProxy(TRUST_PROXY_APPLIED.get(fastify.server), loadServerSettings(env).trustProxy)
    const trustWarning = trustProxyWarning(config.TRUST_PROXY)
    if (trustWarning) fastify.log.warn(trustWarning)
    // Fastify runs onClose hooks last-added first: added before every plugin, this runs after all of theirs
    // (the store, Redis, the change feed and the timers closed), the last line of a shutdown
    // (plugins/shutdown.ts logs the first ones).
    fastify.addHook('onClose', async () => { fastify.log.info('stopped: connections, store and subscriptions closed') })
    await fastify.register(AutoLoad, { dir: join(root, 'plugins'), options: { env: opts.env, clock: opts.clock, onStartupFailure: opts.onStartupFailure } })
    await fastify.register(AutoLoad, { dir: join(root, 'routes') })
  } catch (err) {
    return startupFailed(fastify, opts, err)
  }
}

// A start that fails before the server can listen (a bad environment, a plugin that cannot load). Under
// fastify-cli (`npm start`, `fastify start -o`) the error would reach Node or fastify-cli, which print it
// with its stack and properties, the one useful line lost among twenty: here it is one fatal log line,
// `start-up failed: env/ACCESS_TOKEN_TTL must be integer`, and exit code 1, as when start-up fails later
// (plugins/readiness.ts). A caller that handles failures itself (the tests, with onStartupFailure) gets
// the error instead: app.ready() rejects with it.
function startupFailed (fastify: FastifyInstance, opts: ReadinessOptions, err: unknown): never {
  if (opts.onStartupFailure) throw err
  fastify.log.fatal(`start-up failed: ${err instanceof Error ? err.message : String(err)}`)
  process.exit(1)
}

// The server must trust exactly the proxies TRUST_PROXY names: fastify-cli's own --trust-proxy-* options
// (or FASTIFY_TRUST_PROXY_* variables), or server options given by an embedding program, could otherwise
// make request.ip, and with it every rate limit, something other than what the configuration says.
function checkTrustProxy (applied: unknown, configured: TrustProxy) {
  if (applied === configured) return
  throw new Error(`env/TRUST_PROXY is ${JSON.stringify(String(configured))} but the server was made with trustProxy ${JSON.stringify(applied)}: ` +
    'set TRUST_PROXY alone (not fastify-cli\'s --trust-proxy-* options), and start with `fastify start -o dist/src/app.js`')
}
