import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import type { Test } from 'tap'
import { POSTGRES_SERVER } from './dependencies.js'

function psql (server: string, command: string): void {
  execFileSync('psql', [`${server}/postgres`, '-qX', '-v', 'ON_ERROR_STOP=1', '-c', command], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 30_000 })
}

// A PostgreSQL database of the caller's own on `server`, and the function that drops it (whatever
// connections are left). Throws when the server cannot be reached. Shared by the tests and the bench.
export function createPostgresDatabase (server: string, prefix: string): { url: string, drop: () => void } {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`
  psql(server, `CREATE DATABASE ${name}`)
  return { url: `${server}/${name}`, drop: () => psql(server, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) }
}

// A database of the test's own on the test server, dropped when the test ends.
export function postgresDatabase (t: Test): string {
  const { url, drop } = createPostgresDatabase(POSTGRES_SERVER, 'auth_test')
  t.teardown(drop)
  return url
}
