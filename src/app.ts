// First: refuses an unsupported Node.js before any native module loads (src/support/supported-node.ts).
import './support/supported-node.js'
import AutoLoad from '@fastify/autoload'
import type { FastifyInstance } from 'fastify'
import { join } from 'node:path'
import type { EnvPluginOptions } from '../plugins/env.js'
import type { ReadinessOptions } from '../plugins/readiness.js'
import type { ServicesOptions } from '../plugins/services.js'
import { loadConfig, loadServerSettings } from './config/load.js'
import { trustProxyWarning } from './config/rules.js'
import { checkTrustProxy, ownOptionsOn, trustProxyOn } from './http/server-options.js'

// The server options `fastify start -o` reads from this module (src/http/server-options.ts).
export { options } from './http/server-options.js'

// Both in the source tree (src/app.ts) and in the build (dist/src/app.js), plugins/ and routes/
// sit beside src/.
const root = join(import.meta.dirname, '..')

export default async function app (fastify: FastifyInstance, opts: EnvPluginOptions & ServicesOptions & ReadinessOptions) {
  // `fastify start` without -o would run the app with Fastify's defaults: a 1 MiB body limit, type
  // coercion, unknown fields dropped silently, no log redaction, no request timeouts. No silent downgrade.
  if (!ownOptionsOn(fastify.server)) {
    return startupFailed(fastify, opts, new Error('the server options were not applied: start the service with `fastify start -o dist/src/app.js`, as `npm start` does'))
  }
  try {
    // The environment as the env plugin will read it (opts.env laid over process.env), checked whole
    // before anything starts: the schema and the rules between variables, as the env plugin and
    // `auth-service config check` check it.
    const env = { ...process.env, ...opts.env }
    const config = loadConfig(env)
    checkTrustProxy(trustProxyOn(fastify.server), loadServerSettings(env).trustProxy)
    const trustWarning = trustProxyWarning(config.TRUST_PROXY)
    if (trustWarning) fastify.log.warn(trustWarning)
    // Fastify runs onClose hooks last-added first: added before every plugin, this runs after all of theirs
    // (the store, Redis, the change feed and the timers closed), the last line of a shutdown
    // (plugins/shutdown.ts logs the first ones).
    fastify.addHook('onClose', async () => { fastify.log.info('stopped: connections, store and subscriptions closed') })
    await fastify.register(AutoLoad, { dir: join(root, 'plugins'), options: { env: opts.env, clock: opts.clock, onStartupFailure: opts.onStartupFailure, startupSequence: opts.startupSequence, releaseStartupGarbage: opts.releaseStartupGarbage } })
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
