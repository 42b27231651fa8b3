import { randomBytes, randomUUID } from 'node:crypto'
import { join } from 'node:path'
import type { ChildProcess } from 'node:child_process'
import { loadConfig } from '../src/config/load.js'
import { hasherFromConfig } from '../src/passwords/hasher.js'
import { withServices } from '../src/services.js'
import { openDatabase } from '../src/store/database.js'
import { accessTokenPayload, createAccessTokenSigner } from '../src/tokens/access-tokens.js'
import { createPostgresDatabase } from '../test/support/databases.js'
import { RAISED_RATE_LIMITS } from '../test/support/env.js'
import { fastifyStartArgs, freePort, waitForHttp } from '../test/support/processes.js'
import { outputOf, SERVER_CPU, start } from './processes.js'

const root = join(import.meta.dirname, '..', '..')
export const BENCH_PASSWORD = randomBytes(12).toString('base64url')
const username = (i: number) => `bench-user-${i}`

// Node flags of `npm start` (package.json): a young generation capped at 4 MB a semi-space keeps RSS
// low under load at no measured cost in throughput.
export const SERVICE_NODE_FLAGS = ['--max-semi-space-size=4']
// And its environment: glibc's malloc in one arena (docs/benchmarks.md: V8's compiler and GC threads
// otherwise keep an arena each, about 3 MB apiece under load).
export const NPM_START_ENV = { MALLOC_ARENA_MAX: '1' }

// Configuration the bench sets on the service, and why; printed with the results. The service runs as
// `npm start` runs it, at its default log level (info: one access line a request); a second instance at
// `warn` is measured against a baseline without a logger. The bench sends every request from one address
// (127.0.0.1), so the per-address rate limits are raised far above what it sends: measured with them at
// their defaults, nearly every login would be a 429.
export const SERVICE_SETTINGS = RAISED_RATE_LIMITS as Record<string, string> // as the tests raise them
export const DEFAULT_LOG_LEVEL = 'info' // npm start: -l ${FASTIFY_LOG_LEVEL:-info}
// Protections that would distort the figures, switched off through configuration for the bench.
export const PROTECTIONS_OFF: string[] = [
  'per-address rate limits raised to 1,000,000 a window (RATE_LIMIT_LOGIN, _REFRESH, _SIGNUP, _PASSWORD_CHANGE): the bench sends everything from one address; they are still counted on every limited request'
]

// Until `url` answers with a status `ok` accepts (the server's output in the error if it never does).
export function waitForServer (url: string, child: ChildProcess, ok: (status: number) => boolean): Promise<void> {
  return waitForHttp(url, child, ok, () => outputOf(child))
}

// Users bench-user-0 … bench-user-(count-1), all with BENCH_PASSWORD. One hash serves them all: the
// store's look-up is what scales with the number of users, not the hashing.
async function seedUsers (databaseUrl: string, count: number): Promise<void> {
  const db = await openDatabase(databaseUrl)
  try {
    const passwordHash = await hasherFromConfig(loadConfig({ DATABASE_URL: databaseUrl })).hash(BENCH_PASSWORD)
    const now = new Date().toISOString()
    await db.transaction().execute(async (trx) => {
      for (let first = 0; first < count; first += 500) {
        const rows = []
        for (let i = first; i < Math.min(count, first + 500); i++) {
          rows.push({ id: randomUUID(), username: username(i), username_key: username(i), password_hash: passwordHash, created_at: now, updated_at: now })
        }
        await trx.insertInto('users').values(rows).execute()
      }
    })
  } finally {
    await db.destroy()
  }
}

export interface Service { child: ChildProcess, port: number, databaseUrl: string, users: number }

export async function startService (dir: string, name: string, users: number, logLevel = DEFAULT_LOG_LEVEL, databaseUrl = `sqlite:${join(dir, `${name}.db`)}`): Promise<Service> {
  await seedUsers(databaseUrl, users)
  const port = await freePort()
  const child = start(SERVER_CPU, process.execPath, [
    ...SERVICE_NODE_FLAGS,
    '--import', join(root, 'dist', 'bench', 'probe.js'),
    ...fastifyStartArgs({ port, level: logLevel })
  ], { ...NPM_START_ENV, ...SERVICE_SETTINGS, DATABASE_URL: databaseUrl, ADMIN_PASSWORD_FILE: join(dir, `${name}.admin.txt`) })
  await waitForServer(`http://127.0.0.1:${port}/`, child, (s) => s === 401)
  return { child, port, databaseUrl, users }
}

// `count` distinct access tokens of as many real sessions, signed with the service's own key, as login
// would issue them (without paying `count` argon2 verifies). As many other sessions are revoked, so the
// service's revocation list (synced from the store) is not empty while it is measured.
export async function accessTokens (service: Service, count: number): Promise<string[]> {
  const config = loadConfig({ DATABASE_URL: service.databaseUrl })
  return withServices(config, async ({ store, sessions, keys }, db) => {
    await keys.refresh()
    const key = keys.signing()
    const users = await db.selectFrom('users').select('id').where('username', 'like', 'bench-user-%').limit(1000).execute()
    const sign = createAccessTokenSigner(key, { issuer: config.JWT_ISSUER, audience: config.JWT_AUDIENCE, ttlSeconds: 3600 })
    const tokens: string[] = []
    for (let i = 0; i < count; i++) {
      const user = (await store.users.findById(users[(i * 7919) % users.length].id))!
      const live = (await sessions.start(user, { userAgent: 'bench' }))!
      const revoked = (await sessions.start(user, { userAgent: 'bench' }))!
      await sessions.revoke({ sessionId: revoked.sessionId }, 'bench')
      tokens.push(sign(accessTokenPayload(user, live.sessionId)))
    }
    return tokens
  })
}

// A PostgreSQL database of the bench's own on the server at BENCH_POSTGRES_URL (default: the local one),
// and the function that drops it; undefined when no server answers (the PostgreSQL rows are then skipped).
const POSTGRES_SERVER = process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432'
export function postgresDatabase (): { url: string, drop: () => void } | undefined {
  try {
    return createPostgresDatabase(POSTGRES_SERVER, 'auth_bench')
  } catch {
    return undefined
  }
}

export function loginBodies (users: number, count: number): string[] {
  return Array.from({ length: count }, (_, i) => JSON.stringify({ username: username((i * 7919) % users), password: BENCH_PASSWORD }))
}
