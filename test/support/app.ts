import type { FastifyInstance } from 'fastify'
import helper from 'fastify-cli/helper.js'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import type { Test } from 'tap'
import { loadServerSettings } from '../../src/config/load.js'
import type { StartupStep } from '../../src/startup/sequence.js'
import { testEnv, type Env } from './env.js'

const appPath = join(import.meta.dirname, '..', '..', 'src', 'app.ts')
// The app plus a route written with request.jwtVerify() (GET /via-jwt-verify).
export const jwtVerifyAppPath = join(import.meta.dirname, '..', 'fixtures', 'jwt-verify-app.ts')

// TRUST_PROXY is a server option (src/app.ts reads it from the process's environment when imported): a
// test's env gives it to the server it builds, as the process environment would. A bad value is left to
// the app to refuse, with its message.
function serverOptionsOf (env: Env): object {
  if (env.TRUST_PROXY === undefined) return {}
  try {
    const { trustProxy } = loadServerSettings({ TRUST_PROXY: env.TRUST_PROXY })
    return trustProxy === false ? {} : { trustProxy }
  } catch {
    return {}
  }
}

export interface BuildOptions {
  server?: object // server options laid over the app's own
  clock?: () => number // the service's clock (epoch ms), for tests that move time
  app?: string // another app module that wraps src/app.ts (test/fixtures)
  ready?: boolean // wait until start-up is done (the default), or return the app as soon as it can listen
  startupSequence?: readonly StartupStep[] // another start-up sequence (src/startup/sequence.ts), to see it refused
  releaseStartupGarbage?: boolean // collect start-up's garbage before ready, as npm start does (plugins/readiness.ts)
}

// Builds the app exactly as `fastify start -o` does (same module, same exported server options);
// skipOverride only lifts its decorators to the root so that tests can reach app.accounts and the like.
// Start-up (store, keys, first admin, change feed) runs after the app is ready to listen; by default this
// waits for it, and rejects with its error if it fails for good (the process would exit with code 1).
export async function build (t: Test, env: Env = testEnv(t), options: BuildOptions = {}): Promise<FastifyInstance> {
  const app = await helper.build(['-o', options.app ?? appPath], { env, skipOverride: true, clock: options.clock, onStartupFailure: () => {}, startupSequence: options.startupSequence, releaseStartupGarbage: options.releaseStartupGarbage },
    { ...serverOptionsOf(env), ...options.server }) as unknown as FastifyInstance
  t.teardown(() => app.close())
  if (options.ready !== false) {
    try {
      await app.readiness.whenReady()
    } catch (err) {
      await app.close()
      throw err
    }
  }
  return app
}

// An app whose log lines are collected in `lines`.
export async function buildWithLogs (t: Test, env: Env = testEnv(t), options: Omit<BuildOptions, 'server'> = {}) {
  const lines: string[] = []
  const stream = new Writable({ write (chunk, _enc, done) { lines.push(...chunk.toString().split('\n').filter(Boolean)); done() } })
  const app = await build(t, env, { ...options, server: { logger: { level: 'trace', stream } } })
  return { app, lines }
}
