import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import helper from 'fastify-cli/helper.js'
import { execFileSync, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import type { Test } from 'tap'
import type { SigningKey } from '../src/keys.js'
import { createHmac, sign as cryptoSign } from 'node:crypto'
import { createAccessTokenSigner, lowS } from '../src/tokens.js'

export const appPath = join(import.meta.dirname, '..', 'src', 'app.ts')
// The app plus a route written with request.jwtVerify() (GET /via-jwt-verify).
export const jwtVerifyAppPath = join(import.meta.dirname, 'fixtures', 'jwt-verify-app.ts')

export type Env = Record<string, string | undefined>

// The store tests run against: SQLite unless TEST_DATABASE=postgres (test/postgres/ runs the store,
// session, account, key-ring and credential-lifecycle tests that way).
export const testDatabase = process.env.TEST_DATABASE === 'postgres' ? 'postgres' : 'sqlite'
// The PostgreSQL server tests make their databases on (trust auth on loopback on the machines we run on).
export const POSTGRES_SERVER = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432'

function psql (command: string): void {
  execFileSync('psql', [`${POSTGRES_SERVER}/postgres`, '-qX', '-v', 'ON_ERROR_STOP=1', '-c', command], { stdio: ['ignore', 'ignore', 'pipe'] })
}

// A PostgreSQL database of the test's own, dropped when the test ends (whatever connections are left).
export function postgresDatabase (t: Test): string {
  const name = `auth_test_${randomBytes(6).toString('hex')}`
  psql(`CREATE DATABASE ${name}`)
  t.teardown(() => psql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`))
  return `${POSTGRES_SERVER}/${name}`
}

// A configuration of its own for one test: a fresh SQLite file in the test's directory, or a fresh
// PostgreSQL database.
export function testEnv (t: Test, overrides: Env = {}): Env {
  const dir = t.testdir()
  return {
    DATABASE_URL: testDatabase === 'postgres' ? postgresDatabase(t) : `sqlite:${join(dir, 'auth.db')}`,
    ADMIN_PASSWORD_FILE: join(dir, 'admin-password.txt'),
    ...overrides
  }
}

// The password of the users tests create.
export const PASSWORD = 'correct horse battery staple'

export interface BuildOptions {
  server?: object // server options laid over the app's own
  clock?: () => number // the service's clock (epoch ms), for tests that move time
  app?: string // another app module that wraps src/app.ts (test/fixtures)
}

// Builds the app exactly as `fastify start -o` does (same module, same exported server options);
// skipOverride only lifts its decorators to the root so that tests can reach app.accounts and the like.
export async function build (t: Test, env: Env = testEnv(t), options: BuildOptions = {}): Promise<FastifyInstance> {
  const app = await helper.build(['-o', options.app ?? appPath], { env, skipOverride: true, clock: options.clock }, options.server ?? {}) as unknown as FastifyInstance
  t.teardown(() => app.close())
  return app
}

// An app whose log lines are collected in `lines`.
export async function buildWithLogs (t: Test, env: Env = testEnv(t), options: Omit<BuildOptions, 'server'> = {}) {
  const lines: string[] = []
  const stream = new Writable({ write (chunk, _enc, done) { lines.push(...chunk.toString().split('\n').filter(Boolean)); done() } })
  const app = await build(t, env, { ...options, server: { logger: { level: 'trace', stream } } })
  return { app, lines }
}

export async function addUser (app: FastifyInstance, username: string, password: string) {
  return app.accounts.create(username, password)
}

export function login (app: FastifyInstance, username: string, password: string) {
  return app.inject({ method: 'POST', url: '/login', payload: { username, password } })
}

export async function tokenFor (app: FastifyInstance, username: string, password: string): Promise<string> {
  const res = await login(app, username, password)
  if (res.statusCode !== 200) throw new Error(`login failed: ${res.statusCode} ${res.body}`)
  return res.json().token
}

export function greet (app: FastifyInstance, authorization?: string): Promise<LightMyRequestResponse> {
  return app.inject({ method: 'GET', url: '/', headers: authorization === undefined ? {} : { authorization } })
}

// Signs a token with the app's own signing key, so that tests can make tokens that are correctly signed
// but wrong in some other way (expired, another issuer, …).
export async function signWithAppKey (app: FastifyInstance, payload: Record<string, unknown>, options: Record<string, unknown> = {}) {
  const sign = createAccessTokenSigner(app.keys.signing(), { issuer: app.config.JWT_ISSUER, audience: app.config.JWT_AUDIENCE, ttlSeconds: 60 }, options)
  return sign({ jti: 'test-jti', roles: [], sid: 'test-session', ...payload })
}

export interface Tokens { token: string, refreshToken: string }

export async function loginTokens (app: FastifyInstance, username: string, password: string): Promise<Tokens> {
  const res = await login(app, username, password)
  if (res.statusCode !== 200) throw new Error(`login failed: ${res.statusCode} ${res.body}`)
  return res.json()
}

export function refresh (app: FastifyInstance, refreshToken: string) {
  return app.inject({ method: 'POST', url: '/token/refresh', payload: { refreshToken } })
}

export function bearer (token: string) {
  return { authorization: `Bearer ${token}` }
}

// The signature of any signing input with one of our keys, by hand: for tokens no JWT library would make.
export function signInput (key: SigningKey, input: string): string {
  if (key.alg === 'HS256') return createHmac('sha256', key.privateKey).update(input).digest('base64url')
  const digest = key.alg === 'EdDSA' ? null : 'sha256'
  const signature = cryptoSign(digest, Buffer.from(input), { key: key.privateKey as string, dsaEncoding: 'ieee-p1363' }).toString('base64url')
  return key.alg === 'ES256' ? lowS(`${input}.${signature}`).split('.')[2] : signature // as the service signs
}

// The claims of a token, read without verifying it.
export function claimsOf<T = Record<string, unknown>> (token: string): T {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()) as T
}

// The built CLI, as `npm run cli` and the package's bin run it (`npm test` builds before testing).
const cliPath = join(import.meta.dirname, '..', 'dist', 'src', 'cli.js')

export function cli (env: Env, args: string[], stdin = '') {
  return new Promise<{ code: number | null, stdout: string, stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], {
      env: { PATH: process.env.PATH, ...env },
      stdio: ['pipe', 'pipe', 'pipe']
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => { stdout += d })
    child.stderr.on('data', (d) => { stderr += d })
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
    child.stdin.end(stdin)
  })
}

// A free loopback port for a server a test starts (the bench's helper).
export { freePort } from '../bench/service.js'
