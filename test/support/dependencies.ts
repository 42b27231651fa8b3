import { createConnection } from 'node:net'

// The servers the suites that need them run against, with today's defaults: PostgreSQL (trust auth on
// loopback, the postgres user) and Redis. Each suite makes and drops its own databases and key prefixes.
export const POSTGRES_SERVER = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432'
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'

export type Dependency = 'postgres' | 'redis'

const WHERE: Record<Dependency, { what: string, url: string, variable: string, port: number }> = {
  postgres: { what: 'PostgreSQL', url: POSTGRES_SERVER, variable: 'TEST_POSTGRES_URL', port: 5432 },
  redis: { what: 'Redis', url: REDIS_URL, variable: 'TEST_REDIS_URL', port: 6379 }
}

// Whether something accepts TCP connections at the server's address, within a second.
function accepting (url: string, defaultPort: number): Promise<boolean> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve) => {
    const socket = createConnection({ host: hostname.replace(/^\[|\]$/g, ''), port: Number(port || defaultPort), timeout: 1000 })
    const done = (ok: boolean) => { socket.destroy(); resolve(ok) }
    socket.once('connect', () => done(true))
    socket.once('timeout', () => done(false))
    socket.once('error', () => done(false))
  })
}

const probes = new Map<Dependency, Promise<boolean>>()
const reachable = (dependency: Dependency) => {
  let probe = probes.get(dependency)
  if (!probe) probes.set(dependency, probe = accepting(WHERE[dependency].url, WHERE[dependency].port))
  return probe
}

class DependencyMissingError extends Error {}

// Why the suites that need `dependencies` cannot run here (one line naming the server, its address and
// the variable that sets it), or undefined when every one is reachable. With CI=true (as .ci/run runs) a
// dependency that is not reachable is an error instead: a suite that did not run is not a pass.
async function missing (...dependencies: Array<Dependency | false>): Promise<string | undefined> {
  const down: string[] = []
  for (const dependency of dependencies) {
    if (dependency === false) continue
    if (!(await reachable(dependency))) down.push(`${WHERE[dependency].what} is not reachable at ${WHERE[dependency].url} (${WHERE[dependency].variable})`)
  }
  if (down.length === 0) return undefined
  const reason = down.join('; ')
  if (process.env.CI === 'true') throw new DependencyMissingError(`${reason}, and CI=true: a suite that cannot run is a failure, not a skip`)
  return `skipped: ${reason}`
}

// Options for t.test(name, options, fn): the test is skipped, with the reason, when a dependency is
// missing (and fails the file under CI=true). `false` stands for none (`needs('postgres', redis && 'redis')`).
export async function needs (...dependencies: Array<Dependency | false>): Promise<{ skip: string | false }> {
  return { skip: (await missing(...dependencies)) ?? false }
}

// A file of the SQLite suites run again against PostgreSQL (test/postgres/), a database of each test's
// own: skipped whole, in one line, when PostgreSQL is not reachable.
export async function againstPostgres (load: () => Promise<unknown>): Promise<void> {
  process.env.TEST_DATABASE = 'postgres' // read by ./env.js, which `load` imports first
  const skip = await missing('postgres')
  if (skip === undefined) {
    await load()
    return
  }
  const { default: t } = await import('tap')
  t.plan(0, skip)
}
