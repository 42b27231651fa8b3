import AutoLoad from '@fastify/autoload'
import type { FastifyInstance, FastifyServerOptions } from 'fastify'
import { createServer } from 'node:http'
import { join } from 'node:path'
import type { EnvPluginOptions } from '../plugins/env.js'
import type { StoreOptions } from '../plugins/store.js'

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

// Server options, used by `fastify start -o` and by the tests through fastify-cli's helper alike. The app
// refuses to start without them (see below).
export const options: FastifyServerOptions = {
  serverFactory: (handler) => {
    const server = createServer({ requestTimeout: REQUEST_TIMEOUT_MS, headersTimeout: HEADERS_TIMEOUT_MS, connectionsCheckingInterval: 1000 }, handler)
    server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS
    return server
  },
  logger: {
    // Fastify's request serializer logs no headers or bodies; these paths cover anything logged by hand.
    // Explicit paths only: a leading wildcard ('*.password') makes pino run redaction over the bindings of
    // every per-request child logger, which costs the hot path several percent.
    redact: {
      paths: [
        'req.headers.authorization', 'req.headers.cookie', 'headers.authorization', 'headers.cookie', 'authorization',
        ...['password', 'currentPassword', 'newPassword', 'token', 'refreshToken'].flatMap((k) => [k, `body.${k}`, `req.body.${k}`])
      ],
      censor: '[redacted]'
    }
  },
  ajv: {
    customOptions: {
      removeAdditional: false, // an unknown field is an error, not something to drop silently
      coerceTypes: false // {"password": 123} is a mistake to report, not a string to make up
    }
  },
  bodyLimit: 16 * 1024, // credentials are small; a large body is a mistake or an attack
  return503OnClosing: true
}

export default async function app (fastify: FastifyInstance, opts: EnvPluginOptions & StoreOptions) {
  // `fastify start` without -o would run the app with Fastify's defaults: a 1 MiB body limit, type
  // coercion, unknown fields dropped silently, no log redaction, no request timeouts. No silent downgrade.
  if (fastify.initialConfig.bodyLimit !== options.bodyLimit || fastify.server.requestTimeout !== REQUEST_TIMEOUT_MS) {
    throw new Error('the server options were not applied: start the service with `fastify start -o dist/src/app.js`, as `npm start` does')
  }
  await fastify.register(AutoLoad, { dir: join(root, 'plugins'), options: { env: opts.env, clock: opts.clock } })
  await fastify.register(AutoLoad, { dir: join(root, 'routes') })
}
