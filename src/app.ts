import AutoLoad from '@fastify/autoload'
import type { FastifyInstance, FastifyServerOptions } from 'fastify'
import { join } from 'node:path'
import type { EnvPluginOptions } from '../plugins/env.js'
import type { StoreOptions } from '../plugins/store.js'

// Both in the source tree (src/app.ts) and in the build (dist/src/app.js), plugins/ and routes/
// sit beside src/.
const root = join(import.meta.dirname, '..')

// Server options, used by `fastify start -o` and by the tests through fastify-cli's helper alike.
export const options: FastifyServerOptions = {
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
  await fastify.register(AutoLoad, { dir: join(root, 'plugins'), options: { env: opts.env, clock: opts.clock } })
  await fastify.register(AutoLoad, { dir: join(root, 'routes') })
}
