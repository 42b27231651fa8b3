import type { onRequestHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { UnavailableError } from '../src/http/errors.js'
import { packageInfo } from '../src/support/package-info.js'
import { Readiness } from '../src/startup/readiness.js'
import { releaseStartupGarbage, type HeapFigures } from '../src/support/startup-garbage.js'
import type { StartupStep } from '../src/startup/sequence.js'

declare module 'fastify' {
  interface FastifyInstance {
    readiness: Readiness
    // For routes that need what start-up loads (the store, the keys) but no user: onRequest:
    // [fastify.requireStarted] answers 503 with Retry-After until start-up is done. fastify.authenticate
    // does the same for routes that need a user.
    requireStarted: onRequestHookHandler
  }
}

export interface ReadinessOptions {
  // What to do when start-up fails for good (not a dependency that may come back): by default the process
  // exits with code 1 once the server is closed. Tests observe it through readiness.whenReady() instead.
  onStartupFailure?: (err: unknown) => void
  // The start-up sequence (src/startup/sequence.ts by default); tests give a broken one to see it refused.
  startupSequence?: readonly StartupStep[]
  // Once start-up is done, give back the heap pages its garbage left (src/support/startup-garbage.ts): a
  // collection of the whole process's heap, so by default only where the app owns its process (no
  // onStartupFailure of a caller's own: `npm start`, `fastify start`); tests that look at it ask for it.
  releaseStartupGarbage?: boolean
}

// Start-up without waiting for dependencies: plugins register the work of the start-up sequence's steps
// (src/startup/sequence.ts: store, keys, audit, first admin, sessions, change feed) here, and they run in
// the sequence's order once the server is ready to listen, retried with a back-off while the store is
// unreachable. Meanwhile the server answers: GET /health/ready says 503, and every route that needs what
// is not loaded yet answers 503 with Retry-After.
export default fp<ReadinessOptions>(async function readiness (fastify, opts) {
  const readiness = new Readiness(opts.startupSequence)
  fastify.decorate('readiness', readiness)
  fastify.decorate('requireStarted', function requireStarted (_request, _reply, done) {
    done(readiness.started ? undefined : new UnavailableError('starting', 'The service is starting; retry shortly'))
  } satisfies onRequestHookHandler)
  const onFailure = opts.onStartupFailure ?? (() => {
    fastify.close().finally(() => process.exit(1))
  })
  // The ready line says what runs: the service's version and the Node.js under it (and, where start-up's
  // garbage was given back, the heap before and after, and the milliseconds it took).
  const running = { version: packageInfo().version, node: process.version }
  const release = opts.releaseStartupGarbage ?? opts.onStartupFailure === undefined
  let released: HeapFigures | undefined
  fastify.addHook('onReady', async () => {
    readiness.whenReady().then(() => fastify.log.info({ ...running, ...released }, 'ready: store, keys and change feed loaded'), (err) => {
      // One line, the message alone (no stack): what to fix, said once (a crash loop repeats it).
      fastify.log.fatal(`start-up failed: ${(err as Error).message}`)
      onFailure(err)
    })
    // The collection is an economy, never a reason not to start: should it throw, a warning and on.
    const lastly = release
      ? () => {
          try {
            released = releaseStartupGarbage()
          } catch (err) {
            fastify.log.warn(`start-up's garbage not collected: ${(err as Error).message}`)
          }
        }
      : undefined
    readiness.run((level, fields, message) => fastify.log[level](fields, message), lastly).catch(() => {})
  })
  fastify.addHook('preClose', async () => { readiness.close() })
}, { name: 'readiness' })
