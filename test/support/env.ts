import { join } from 'node:path'
import type { Test } from 'tap'
import { postgresDatabase } from './databases.js'

export type Env = Record<string, string | undefined>

// The store tests run against: SQLite unless TEST_DATABASE=postgres (test/postgres/ runs the store,
// session, account, key-ring and credential-lifecycle tests that way).
export const testDatabase = process.env.TEST_DATABASE === 'postgres' ? 'postgres' : 'sqlite'

// Every request a test (or the bench) sends comes from 127.0.0.1: one client address, which the
// per-address rate limits would soon refuse. Raised out of the way (test/rate-limit.test.ts sets its own).
export const RAISED_RATE_LIMITS: Env = {
  RATE_LIMIT_LOGIN: '1000000',
  RATE_LIMIT_REFRESH: '1000000',
  RATE_LIMIT_SIGNUP: '1000000',
  RATE_LIMIT_PASSWORD_CHANGE: '1000000'
}

// A configuration of its own for one test: a fresh SQLite file in the test's directory, or a fresh
// PostgreSQL database; rate limits raised.
export function testEnv (t: Test, overrides: Env = {}): Env {
  const dir = t.testdir()
  return {
    DATABASE_URL: testDatabase === 'postgres' ? postgresDatabase(t) : `sqlite:${join(dir, 'auth.db')}`,
    ADMIN_PASSWORD_FILE: join(dir, 'admin-password.txt'),
    ...RAISED_RATE_LIMITS,
    ...overrides
  }
}

// For tests whose subject is not the login throttle but that send bursts of logins for one account from
// one address (races, shutdown, outages): the throttle would refuse all but the first few (its own tests
// are in login-throttle.test.ts).
export const LOGIN_BURSTS: Env = { LOGIN_THROTTLE_FREE_FAILURES: '1000', LOGIN_THROTTLE_ACCOUNT_FAILURES: '1000' }

// The password of the users tests create.
export const PASSWORD = 'correct horse battery staple'
