import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import helper from 'fastify-cli/helper.js'
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { createConnection, createServer, type Socket } from 'node:net'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import type { Test } from 'tap'
import type { SigningKey } from '../src/tokens/key-ring.js'
import { createHmac, sign as cryptoSign } from 'node:crypto'
import { loadServerSettings } from '../src/config/load.js'
import { createAccessTokenSigner, lowS } from '../src/tokens/access-tokens.js'

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

// Every request a test sends comes from 127.0.0.1: one client address, which the per-address rate limits
// would soon refuse. Tests raise them out of the way (test/rate-limit.test.ts sets its own).
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

// For tests whose subject is not the login throttle but that send bursts of logins for one account from
// one address (races, shutdown, outages): the throttle would refuse all but the first few (its own tests
// are in login-throttle.test.ts).
export const LOGIN_BURSTS: Env = { LOGIN_THROTTLE_FREE_FAILURES: '1000', LOGIN_THROTTLE_ACCOUNT_FAILURES: '1000' }

// The password of the users tests create.
export const PASSWORD = 'correct horse battery staple'

export interface BuildOptions {
  server?: object // server options laid over the app's own
  clock?: () => number // the service's clock (epoch ms), for tests that move time
  app?: string // another app module that wraps src/app.ts (test/fixtures)
  ready?: boolean // wait until start-up is done (the default), or return the app as soon as it can listen
}

// Builds the app exactly as `fastify start -o` does (same module, same exported server options);
// skipOverride only lifts its decorators to the root so that tests can reach app.accounts and the like.
// Start-up (store, keys, first admin, change feed) runs after the app is ready to listen; by default this
// waits for it, and rejects with its error if it fails for good (the process would exit with code 1).
export async function build (t: Test, env: Env = testEnv(t), options: BuildOptions = {}): Promise<FastifyInstance> {
  const app = await helper.build(['-o', options.app ?? appPath], { env, skipOverride: true, clock: options.clock, onStartupFailure: () => {} },
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
const cliPath = join(import.meta.dirname, '..', 'dist', 'src', 'cli', 'main.js')

// A command still running after `killAfterMs` is killed (its code is then null).
export function cli (env: Env, args: string[], stdin = '', cwd?: string, killAfterMs?: number) {
  return new Promise<{ code: number | null, stdout: string, stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], {
      env: { PATH: process.env.PATH, ...env },
      cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(killAfterMs !== undefined && { timeout: killAfterMs, killSignal: 'SIGKILL' as const })
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

// A TCP proxy the test owns, to cut a dependency (PostgreSQL, Redis) without touching the shared server:
// cut() closes every connection through it and refuses new ones; restore() forwards again; stall() stops
// passing bytes while keeping the connections open, and accepts new ones that pass nothing either (a
// network path gone dark: the client's connection stays "ready", its commands time out). Bytes are held,
// not dropped, as TCP would: after restore() what was sent during the stall arrives, in order.
export async function tcpProxy (t: Test, target: { host: string, port: number }, forwarding = true) {
  const sockets = new Set<Socket>()
  let open = forwarding
  let stalled = false
  const server = createServer((client) => {
    client.on('error', () => {})
    if (!open) { client.destroy(); return }
    const upstream = createConnection(target.port, target.host)
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
      s.on('error', () => {})
    }
    client.on('data', (d) => upstream.write(d))
    upstream.on('data', (d) => client.write(d))
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
    if (stalled) { client.pause(); upstream.pause() }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { for (const s of sockets) s.destroy(); server.close() })
  return {
    port: (server.address() as { port: number }).port,
    cut () { open = false; for (const s of sockets) s.destroy() },
    restore () { open = true; stalled = false; for (const s of sockets) s.resume() },
    stall () { stalled = true; for (const s of sockets) s.pause() }
  }
}

// The URL of `url` with its host and port replaced by a proxy's.
export function throughProxy (url: string, port: number): string {
  const u = new URL(url)
  u.hostname = '127.0.0.1'
  u.port = String(port)
  return u.toString()
}

// A free loopback port for a server a test starts (the bench's helper).
export { freePort } from '../bench/service.js'

// The built service started the way `npm start` starts it: fastify-cli, -o, dist/src/app.js.
const root = join(import.meta.dirname, '..')
export const fastifyCli = join(root, 'node_modules', 'fastify-cli', 'cli.js')
export const builtApp = join(root, 'dist', 'src', 'app.js')

export interface Service { child: ChildProcess, output: () => string, exited: Promise<number | null> }

function collect (child: ChildProcess): Service {
  let out = ''
  child.stdout!.on('data', (d) => { out += d })
  child.stderr!.on('data', (d) => { out += d })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return { child, output: () => out, exited }
}

export function startService (env: Env, port: number, cwd = root, level = 'info', withOptions = true, extraArgs: string[] = []): Service {
  return collect(spawn(process.execPath, [fastifyCli, 'start', ...(withOptions ? ['-o'] : []), '-l', level, '-a', '127.0.0.1', '-p', String(port), ...extraArgs, builtApp], {
    cwd, env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe']
  }))
}

// The service's exit code, or 'running' if it has not exited within `ms` (the timer does not keep the test
// process alive): a test expecting an exit fails instead of waiting for tap's timeout.
export function exitWithin (service: Service, ms = 20_000): Promise<number | null | 'running'> {
  return Promise.race([service.exited, new Promise<'running'>((resolve) => { setTimeout(() => resolve('running'), ms).unref() })])
}

// Until the service has logged that it listens.
export async function logsListening (service: Service): Promise<void> {
  const deadline = Date.now() + 20_000
  while (!service.output().includes('Server listening')) {
    if (service.child.exitCode !== null) throw new Error(`service exited: ${service.output()}`)
    if (Date.now() > deadline) throw new Error(`service did not start: ${service.output()}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

// Until `url` answers 2xx.
export async function answering (url: string, service: Service): Promise<void> {
  const deadline = Date.now() + 20_000
  for (;;) {
    if (service.child.exitCode !== null) throw new Error(`service exited: ${service.output()}`)
    try {
      if ((await fetch(url)).ok) return
    } catch {}
    if (Date.now() > deadline) throw new Error(`service did not answer: ${service.output()}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

// What `npm start` runs once dist/ is built: the script's own command line from package.json, through sh as
// npm runs it, without the build step (which, should a source be newer than the build, would rebuild dist/
// under the other tests; test/start.test.ts runs the whole script).
export async function npmStartCommand (): Promise<string> {
  const { scripts } = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
  return scripts.start.replace(/^(npm run build|node scripts\/ensure-built\.mjs) && /, '')
}

// In a process group of its own, so that a test can end the whole group whatever the shell did.
export function startLikeNpm (command: string, env: Env): Service {
  return collect(spawn('sh', ['-c', command], { cwd: root, env: { PATH: `${join(root, 'node_modules', '.bin')}:${process.env.PATH}`, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true }))
}

// A request to a listening server, as a client sends it: a JSON body, a Bearer token. The body comes back
// parsed when it is JSON.
export async function httpCall (base: string, method: string, path: string, options: { token?: string, body?: unknown } = {}) {
  const res = await fetch(base + path, {
    method,
    headers: {
      ...(options.token !== undefined && { authorization: `Bearer ${options.token}` }),
      ...(options.body !== undefined && { 'content-type': 'application/json' })
    },
    body: options.body === undefined ? undefined : JSON.stringify(options.body)
  })
  const text = await res.text()
  const body = res.headers.get('content-type')?.startsWith('application/json') ? JSON.parse(text) : text
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body }
}

// Milliseconds until `check` holds, polling every 20 ms: a passing assertion that says how long it took,
// or a failing one past `limitMs` (Infinity).
export async function within (t: Test, limitMs: number, what: string, check: () => Promise<boolean>): Promise<number> {
  const started = Date.now()
  for (;;) {
    if (await check().catch(() => false)) {
      const elapsed = Date.now() - started
      t.ok(elapsed <= limitMs, `${what} after ${elapsed} ms (at most ${limitMs})`)
      return elapsed
    }
    if (Date.now() - started > limitMs + 2000) {
      t.fail(`${what}: not within ${limitMs} ms`)
      return Infinity
    }
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}
