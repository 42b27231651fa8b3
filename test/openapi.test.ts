// The OpenAPI document at /docs/json: valid OpenAPI 3, every route with every response code it can send,
// the bearer scheme on the routes that take a token, examples; DOCS_ENABLED=false serves nothing.
import SwaggerParser from '@apidevtools/swagger-parser'
import type { FastifyInstance, LightMyRequestResponse } from 'fastify'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { ERROR_CODE_NAMES, ERROR_CODES, type ErrorCode } from '../src/error-codes.js'
import type { RegisteredRoute } from './fixtures/route-list-app.js'
import { build, testEnv, tokenFor } from './support/index.js'

const routeListApp = join(import.meta.dirname, 'fixtures', 'route-list-app.ts')

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE'
interface Operation {
  summary?: string
  tags?: string[]
  security?: Array<Record<string, string[]>>
  requestBody?: { content: Record<string, { example?: unknown, examples?: unknown }> }
  responses: Record<string, { description: string, headers?: Record<string, unknown>, content?: Record<string, { example?: unknown, examples?: unknown }> }>
}
interface Document {
  openapi: string
  info: { title: string, version: string }
  servers?: Array<{ url: string }>
  paths: Record<string, Record<string, Operation>>
  components: { securitySchemes?: Record<string, { type: string, scheme?: string }>, schemas?: Record<string, Schema> }
}

// The HTTP contract (docs/http-api.md, "HTTP contract"): every status each route can send. Routes' own
// statuses, and those plugins send:
// 400/413/415 where a body is read (POST, PUT, DELETE), 400/404 with a path parameter, 401 where a token is
// checked, 429 where a rate limit applies, 503 everywhere (overload, start-up, the store, shutting down).
const EXPECTED: Record<string, number[]> = {
  'GET /': [200, 401, 503],
  'POST /login': [200, 400, 401, 413, 415, 429, 503],
  'POST /token/refresh': [200, 400, 401, 413, 415, 429, 503],
  'POST /logout': [204, 400, 401, 413, 415, 503],
  'POST /signup': [201, 400, 409, 413, 415, 429, 503],
  'GET /me': [200, 401, 503],
  'GET /me/sessions': [200, 401, 503],
  'DELETE /me/sessions/{id}': [204, 400, 401, 404, 413, 415, 503],
  'PUT /me/password': [204, 400, 401, 403, 413, 415, 429, 503],
  'GET /admin/users': [200, 401, 403, 503],
  'POST /admin/users/{id}/disable': [204, 400, 401, 403, 404, 409, 413, 415, 503],
  'POST /admin/users/{id}/enable': [204, 400, 401, 403, 404, 413, 415, 503],
  'GET /.well-known/jwks.json': [200, 503],
  'GET /.well-known/openid-configuration': [200, 503],
  'GET /health/live': [200, 503],
  'GET /health/ready': [200, 503],
  'GET /metrics': [200, 404, 503]
}

const ADMIN_PASSWORD = 'docs test operator passphrase 7'
const ENV = { SIGNUP_ENABLED: 'true', CORS_ORIGINS: 'https://app.example.com', ADMIN_PASSWORD }

async function documentOf (app: FastifyInstance): Promise<Document> {
  const res = await app.inject({ method: 'GET', url: '/docs/json' })
  if (res.statusCode !== 200) throw new Error(`GET /docs/json: ${res.statusCode} ${res.body}`)
  return res.json()
}

// The enum of `code` in an error answer's schema (one branch of it, for /health/ready's 503), through a
// $ref to the document's components.
interface Schema { properties?: { code?: { enum?: string[] } }, anyOf?: Schema[], $ref?: string }
function errorCodesOf (doc: Document, answer: Operation['responses'][string]): string[] | undefined {
  const resolve = (s: Schema): Schema => s.$ref === undefined ? s : (doc.components.schemas?.[s.$ref.replace('#/components/schemas/', '')] ?? s)
  const schema = answer.content?.['application/json'] as { schema?: Schema } | undefined
  const branches = schema?.schema?.anyOf ?? (schema?.schema ? [schema.schema] : [])
  return branches.map((b) => resolve(b).properties?.code?.enum).find((e) => e !== undefined)
}

// "GET /me/sessions/{id}" for Fastify's "/me/sessions/:id".
const openapiPath = (url: string) => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}')
const operationsOf = (doc: Document) => Object.entries(doc.paths).flatMap(([path, ops]) =>
  Object.entries(ops).map(([method, op]) => ({ key: `${method.toUpperCase()} ${path}`, path, method: method.toUpperCase() as Method, op })))
const codesOf = (op: Operation) => Object.keys(op.responses).map(Number).sort((a, b) => a - b)

t.test('the document is valid OpenAPI 3 and lists every registered route, with every code it can send', async (t) => {
  const app = await build(t, testEnv(t, ENV), { app: routeListApp })
  const doc = await documentOf(app)
  t.match(doc.openapi, /^3\./, 'OpenAPI 3')
  await t.resolves(SwaggerParser.validate(structuredClone(doc) as never), 'valid by @apidevtools/swagger-parser')
  const pkg = JSON.parse(await readFile(join(import.meta.dirname, '..', 'package.json'), 'utf8')) as { name: string, version: string }
  t.match(doc.info, { title: pkg.name, version: pkg.version }, 'title and version from package.json')

  // Every route registered on the app, but the documentation's own and the CORS preflight (OPTIONS *,
  // hidden by @fastify/cors); HEAD twins of GET routes are not operations of their own.
  const registered = (app as unknown as { registeredRoutes: RegisteredRoute[] }).registeredRoutes
  t.ok(registered.some((r) => r.method === 'OPTIONS' && r.url === '*'), 'with CORS_ORIGINS the preflight route exists (excluded below)')
  const expected = registered
    .filter((r) => r.method !== 'HEAD' && !(r.method === 'OPTIONS' && r.url === '*') && !/^\/docs(\/|$)/.test(r.url))
    .map((r) => `${r.method} ${openapiPath(r.url)}`)
  const documented = operationsOf(doc).map((o) => o.key)
  t.same([...new Set(expected)].sort(), [...documented].sort(), 'the registered routes are the documented operations')
  t.same([...documented].sort(), Object.keys(EXPECTED).sort(), 'the routes of the HTTP contract, /health/live and /health/ready included')

  for (const { key, op } of operationsOf(doc)) {
    t.same(codesOf(op), EXPECTED[key], `${key}: ${EXPECTED[key]?.join(', ')}`)
    t.ok(op.summary, `${key} has a summary`)
    t.ok(op.tags?.length, `${key} has a tag`)
    for (const [code, answer] of Object.entries(op.responses)) {
      if (code === '429' || code === '503') t.ok(answer.headers?.['Retry-After'], `${key} ${code} documents Retry-After`)
      t.ok(answer.description && answer.description !== 'Default Response', `${key} ${code} says what it means`)
      if (Number(code) >= 400) t.same(errorCodesOf(doc, answer), ERROR_CODE_NAMES, `${key} ${code}: the error body's code, an enum of the table's codes`)
    }
  }
  t.notMatch(JSON.stringify(doc), /Default Response/, 'no answer is described as "Default Response"')
})

// A route added later that lists none of the codes plugins send on it (test/fixtures/limits-app.ts: a
// rate-limited POST with no schema at all) gets them all the same, and they serialize as usual.
t.test('a route that declares no response codes still lists those plugins send on it', async (t) => {
  const app = await build(t, testEnv(t, { RATE_LIMIT_LOGIN: '1' }), { app: join(import.meta.dirname, 'fixtures', 'limits-app.ts') })
  const doc = await documentOf(app)
  const op = doc.paths['/login/second-step']?.post
  t.same(op && codesOf(op), [400, 413, 415, 429, 503], 'POST /login/second-step: 400, 413, 415, 429, 503 (its own 204 is undocumented: it has no schema)')
  t.ok(op?.responses['429'].headers?.['Retry-After'], 'with Retry-After')
  t.equal((await app.inject({ method: 'POST', url: '/login/second-step' })).statusCode, 204)
  const limited = await app.inject({ method: 'POST', url: '/login/second-step' })
  t.equal(limited.statusCode, 429)
  t.match(limited.json(), { statusCode: 429, error: 'Too Many Requests', message: /^Too many requests; retry in /, code: 'rate_limited' }, 'the 429 body through the added schema')
  t.ok(limited.headers['retry-after'], 'and its Retry-After')
})

// What the service answers, compared with what the document says: each answer's status must be listed for
// its route, with the error body's shape (the added response schemas serialize it).
t.test('what the routes answer to bad requests, without a token, and while starting, is documented', async (t) => {
  const app = await build(t, testEnv(t, ENV))
  const doc = await documentOf(app)
  const token = await tokenFor(app, 'admin', ADMIN_PASSWORD)
  const starting = await build(t, testEnv(t, { ...ENV, DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none', DATABASE_CONNECT_TIMEOUT: '1' }), { ready: false })

  const seen = new Map<string, Set<number>>()
  const check = (key: string, what: string, res: LightMyRequestResponse) => {
    seen.set(key, (seen.get(key) ?? new Set()).add(res.statusCode))
    const [method, path] = key.split(' ')
    t.ok(doc.paths[path][method.toLowerCase()].responses[String(res.statusCode)], `${key}, ${what}: ${res.statusCode} is documented`)
    if (res.statusCode >= 400 && !(key === 'GET /health/ready' && res.statusCode === 503)) {
      t.match(res.json(), { statusCode: res.statusCode, error: String, message: String, code: String }, `${key}, ${what}: the error body`)
      t.equal(ERROR_CODES[res.json().code as ErrorCode]?.status, res.statusCode, `${key}, ${what}: ${res.json().code}, a code of the table for ${res.statusCode}`)
    }
  }
  for (const { key, path, method } of operationsOf(doc)) {
    if (key === 'POST /logout') continue // below, last: it ends the session
    const url = path.replace('{id}', '00000000-0000-0000-0000-000000000000')
    const auth = { authorization: `Bearer ${token}` }
    check(key, 'no token', await app.inject({ method, url, ...(method !== 'GET' && { payload: {} }) }))
    check(key, 'while starting', await starting.inject({ method, url, headers: auth, ...(method !== 'GET' && { payload: {} }) }))
    if (method === 'GET') continue
    check(key, 'text/plain', await app.inject({ method, url, headers: { ...auth, 'content-type': 'text/plain' }, payload: 'x' }))
    check(key, 'malformed JSON', await app.inject({ method, url, headers: { ...auth, 'content-type': 'application/json' }, payload: '{' }))
    check(key, 'over 16 KiB', await app.inject({ method, url, headers: { ...auth, 'content-type': 'application/json' }, payload: JSON.stringify({ x: 'x'.repeat(17_000) }) }))
  }
  check('POST /logout', 'no token', await app.inject({ method: 'POST', url: '/logout' }))
  check('POST /logout', 'text/plain', await app.inject({ method: 'POST', url: '/logout', headers: { authorization: `Bearer ${token}`, 'content-type': 'text/plain' }, payload: 'x' }))
  // The probes reached the codes plugins add (not only the routes' own).
  t.ok(seen.get('DELETE /me/sessions/{id}')?.has(415) && seen.get('POST /admin/users/{id}/enable')?.has(413), '415 and 413 where a body is read')
  t.ok(seen.get('GET /me')?.has(503) && seen.get('GET /health/live')?.has(200), '503 while starting; liveness answers')
})

t.test('routes that check a token say so with the bearer scheme; the others do not', async (t) => {
  const app = await build(t, testEnv(t, ENV))
  const doc = await documentOf(app)
  t.match(doc.components.securitySchemes?.bearerAuth, { type: 'http', scheme: 'bearer' }, 'bearerAuth: HTTP bearer')
  for (const { key, path, method, op } of operationsOf(doc)) {
    // A route that checks a token answers a request without one 401 with a Bearer challenge.
    const res = await app.inject({ method, url: path.replace('{id}', 'x'), ...(method !== 'GET' && { payload: {} }) })
    const authenticated = res.statusCode === 401 && String(res.headers['www-authenticate']).startsWith('Bearer')
    if (authenticated) t.same(op.security, [{ bearerAuth: [] }], `${key} takes a bearer token`)
    else t.equal(op.security, undefined, `${key} needs no token (${res.statusCode})`)
  }
})

t.test('login and refresh have examples of their bodies and of their 200 answers', async (t) => {
  const app = await build(t, testEnv(t, ENV))
  const doc = await documentOf(app)
  for (const path of ['/login', '/token/refresh']) {
    const op = doc.paths[path].post
    const body = op.requestBody?.content['application/json']
    const ok = op.responses['200'].content?.['application/json']
    t.ok(body?.example ?? body?.examples, `${path}: an example body`)
    t.ok(ok?.example ?? ok?.examples, `${path}: an example answer`)
  }
  t.match(doc.paths['/login'].post.requestBody?.content['application/json'].example, { username: String, password: String })
  t.match(doc.paths['/token/refresh'].post.requestBody?.content['application/json'].example, { refreshToken: /^rt_/ })
  t.match(doc.paths['/login'].post.responses['200'].content?.['application/json'].example, { token: String, tokenType: 'Bearer', refreshToken: String })
  // The example body is one the service accepts (a 401: the made-up user does not exist).
  const example = doc.paths['/login'].post.requestBody?.content['application/json'].example
  t.equal((await app.inject({ method: 'POST', url: '/login', payload: example as object })).statusCode, 401, 'the login example passes validation')
})

t.test('servers: relative, "/" or PUBLIC_URL\'s path, whatever the Host or X-Forwarded-Host header says', async (t) => {
  for (const [PUBLIC_URL, url] of [['https://auth.example.com/', '/'], ['https://auth.example.com', '/'], ['https://example.com/auth/', '/auth'], ['https://example.com/a/b', '/a/b']]) {
    const configured = await build(t, testEnv(t, { PUBLIC_URL }))
    t.same((await documentOf(configured)).servers, [{ url }], `PUBLIC_URL=${PUBLIC_URL}: ${url}`)
  }
  const app = await build(t, testEnv(t, { TRUST_PROXY: '127.0.0.1' }))
  t.same((await documentOf(app)).servers, [{ url: '/' }], 'before it listens: /')
  const address = await app.listen({ port: 0, host: '127.0.0.1' })
  for (const headers of [{}, { host: 'evil.example' }, { 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' }, { forwarded: 'host=evil.example' }] as Array<Record<string, string>>) {
    const doc = await (await fetch(`${address}/docs/json`, { headers })).json() as Document
    t.same(doc.servers, [{ url: '/' }], `listening, with ${JSON.stringify(headers)}: /`)
  }
  const yaml = await (await fetch(`${address}/docs/yaml`, { headers: { host: 'evil.example' } })).text()
  t.match(yaml, /^servers:\n {2}- url: \/\n/m, 'the YAML document too')
  t.notMatch(yaml, /evil|127\.0\.0\.1|localhost/, 'no host in it')
})

t.test('the page has its own Content-Security-Policy; the document and the page\'s files keep the JSON API\'s', async (t) => {
  const app = await build(t, testEnv(t))
  const strict = "default-src 'none';frame-ancestors 'none'"
  for (const url of ['/docs', '/docs/']) {
    const page = await app.inject({ method: 'GET', url })
    t.equal(page.statusCode, 200, url)
    t.match(page.headers['content-type'], /^text\/html/)
    t.match(page.headers['content-security-policy'], /^default-src 'none';script-src 'self';style-src 'self';img-src 'self' data:;connect-src 'self';.*frame-ancestors 'none'/, `${url}: the page's policy`)
    t.notMatch(page.headers['content-security-policy'], /unsafe/, `${url}: nothing unsafe`)
    t.equal(page.headers['x-frame-options'], 'DENY', `${url}: the other headers still`)
  }
  for (const url of ['/docs/json', '/docs/static/swagger-ui-bundle.js', '/docs/static/swagger-ui.css', '/login']) {
    const res = await app.inject({ method: 'GET', url })
    t.equal(res.headers['content-security-policy'], strict, `${url}: the JSON API's policy`)
  }
})

t.test('DOCS_ENABLED=false: neither the page nor the document', async (t) => {
  const app = await build(t, testEnv(t, { ...ENV, DOCS_ENABLED: 'false' }))
  for (const url of ['/docs', '/docs/', '/docs/json', '/docs/yaml', '/docs/static/swagger-ui-bundle.js']) {
    t.equal((await app.inject({ method: 'GET', url })).statusCode, 404, `${url}: 404`)
  }
  t.equal(app.swagger, undefined, 'no document is made')
  // The contract does not depend on it: the same answers, e.g. a 415 in the usual body.
  const token = await tokenFor(app, 'admin', ADMIN_PASSWORD)
  const res = await app.inject({ method: 'DELETE', url: '/me/sessions/x', headers: { authorization: `Bearer ${token}`, 'content-type': 'text/plain' }, payload: 'x' })
  t.equal(res.statusCode, 415)
  t.match(res.json(), { statusCode: 415, error: 'Unsupported Media Type', message: String })
  const bad = await build(t, testEnv(t, { DOCS_ENABLED: 'maybe' })).catch((err: Error) => err)
  t.match(String(bad), /env\/DOCS_ENABLED must be boolean/, 'a value that is not a boolean stops the start')
})
