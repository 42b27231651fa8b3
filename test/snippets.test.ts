import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import t from 'tap'
import { addUser, build, PASSWORD, testEnv, tokenFor } from './support/index.js'

// The snippets for services that verify our tokens (docs/integrating.md, "Verifying our tokens in another
// service"), run exactly as written: each is a module of its own, importing the packages as a consumer would.
async function snippet (name: string): Promise<string> {
  const page = await readFile(join(import.meta.dirname, '..', 'docs', 'integrating.md'), 'utf8')
  const start = page.indexOf(`<!-- snippet:${name} -->`)
  if (start < 0) throw new Error(`docs/integrating.md has no snippet ${name}`)
  const body = page.indexOf('\n', page.indexOf('```js', start)) + 1
  return page.slice(body, page.indexOf('```', body))
}

async function setup (t: Parameters<typeof build>[0]) {
  const app = await build(t, testEnv(t))
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  await addUser(app, 'alice', PASSWORD)
  const token = await tokenFor(app, 'alice', PASSWORD)
  const forged = token.split('.').slice(0, 2).join('.') + '.' + Buffer.alloc(64).toString('base64url')
  return { url, token, forged }
}

// The snippet as a module in the test's folder (inside the checkout, so its imports resolve), imported with
// AUTH_URL pointing at the service.
async function load<T> (t: Parameters<typeof build>[0], name: string, authUrl: string): Promise<T> {
  const file = join(t.testdir(), `${name}.mjs`)
  await writeFile(file, await snippet(name))
  process.env.AUTH_URL = authUrl
  try {
    return await import(pathToFileURL(file).href) as T
  } finally {
    delete process.env.AUTH_URL
  }
}

t.test('the jose snippet verifies our tokens, and refuses a forged one', async (t) => {
  const { url, token, forged } = await setup(t)
  const { verifyAccessToken } = await load<{ verifyAccessToken: (token: string) => Promise<Record<string, unknown>> }>(t, 'jose', url)
  const claims = await verifyAccessToken(token)
  t.equal(claims.username, 'alice')
  t.same(claims.roles, [])
  await t.rejects(verifyAccessToken(forged), 'a forged signature is refused')
})

t.test('the @fastify/jwt + get-jwks snippet verifies our tokens, and refuses a forged one', async (t) => {
  const { url, token, forged } = await setup(t)
  const { app } = await load<{ app: import('fastify').FastifyInstance }>(t, 'get-jwks', url)
  t.teardown(() => app.close())
  const ok = await app.inject({ method: 'GET', url: '/orders', headers: { authorization: `Bearer ${token}` } })
  t.equal(ok.statusCode, 200)
  t.same(ok.json(), { for: 'alice' })
  t.equal((await app.inject({ method: 'GET', url: '/orders', headers: { authorization: `Bearer ${forged}` } })).statusCode, 401)
  t.equal((await app.inject({ method: 'GET', url: '/orders' })).statusCode, 401)
})
