import fastifyJwt from '@fastify/jwt'
import Fastify from 'fastify'
import buildGetJwks from 'get-jwks'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import { randomBytes } from 'node:crypto'
import t from 'tap'
import { addUser, build, claimsOf, freePort, PASSWORD, testEnv, tokenFor } from './support/index.js'

// A listening service whose issuer and public URL are its own URL, as a deployment would configure it.
async function listening (t: Parameters<typeof build>[0], env: Record<string, string> = {}) {
  const port = await freePort()
  const issuer = `http://127.0.0.1:${port}`
  const app = await build(t, testEnv(t, { JWT_ISSUER: issuer, PUBLIC_URL: issuer, JWT_AUDIENCE: 'orders-api', ...env }))
  await app.listen({ port, host: '127.0.0.1' })
  await addUser(app, 'alice', PASSWORD)
  return { app, issuer, token: await tokenFor(app, 'alice', PASSWORD) }
}

t.test('JWKS publishes the signing key, with its kid and Cache-Control', async (t) => {
  const { app, token } = await listening(t)
  const res = await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })
  t.equal(res.statusCode, 200)
  t.match(res.headers['cache-control'], /^public, max-age=\d+$/)
  const { keys } = res.json()
  t.equal(keys.length, 1)
  const header = JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString())
  t.match(keys[0], { kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig', kid: header.kid })
  t.notOk('d' in keys[0], 'no private part')
})

t.test('the discovery document names the issuer, the JWKS URL, the algorithm and the endpoints', async (t) => {
  const { app, issuer } = await listening(t)
  const doc = (await app.inject({ method: 'GET', url: '/.well-known/openid-configuration' })).json()
  t.same(doc, {
    issuer,
    jwks_uri: `${issuer}/.well-known/jwks.json`,
    token_endpoint: `${issuer}/login`,
    refresh_endpoint: `${issuer}/token/refresh`,
    revocation_endpoint: `${issuer}/logout`,
    grant_types_supported: ['password', 'refresh_token'],
    id_token_signing_alg_values_supported: ['ES256']
  })
  for (const host of ['evil.example', 'evil.example:443', '127.0.0.1:1']) {
    const forged = await app.inject({ method: 'GET', url: '/.well-known/openid-configuration', headers: { host, 'x-forwarded-host': host, 'x-forwarded-proto': 'https' } })
    t.same(forged.json(), doc, `Host: ${host} changes nothing`)
  }
})

t.test('without PUBLIC_URL, the published URLs are http://localhost:<PORT>, whatever the Host header', async (t) => {
  const app = await build(t, testEnv(t, { PORT: '4321' }))
  const res = await app.inject({ method: 'GET', url: '/.well-known/openid-configuration', headers: { host: 'evil.example' } })
  t.equal(res.json().jwks_uri, 'http://localhost:4321/.well-known/jwks.json')
  t.equal(res.json().token_endpoint, 'http://localhost:4321/login')
  const bad = await build(t, testEnv(t, { PUBLIC_URL: 'javascript:alert(1)' })).catch((err: Error) => err)
  t.match(String(bad), /env\/PUBLIC_URL must match pattern/, 'a PUBLIC_URL that is not an http(s) URL stops the start')
})

t.test('without PUBLIC_URL, a server listening on another port than PORT publishes the port it listens on', async (t) => {
  // fastify-cli's -p sets the port without PORT: the default must not point at a port someone else may take.
  const app = await build(t, testEnv(t, { PORT: '4321' }))
  const address = await app.listen({ port: 0, host: '127.0.0.1' })
  const port = new URL(address).port
  const doc = await (await fetch(`${address}/.well-known/openid-configuration`)).json() as { jwks_uri: string }
  t.equal(doc.jwks_uri, `http://localhost:${port}/.well-known/jwks.json`)
})

t.test("jose's createRemoteJWKSet + jwtVerify verify our tokens against the live JWKS URL", async (t) => {
  for (const JWT_ALGORITHM of ['ES256', 'EdDSA', 'RS256']) {
    const { issuer, token } = await listening(t, { JWT_ALGORITHM })
    const jwks = createRemoteJWKSet(new URL(`${issuer}/.well-known/jwks.json`))
    const { payload, protectedHeader } = await jwtVerify(token, jwks, { issuer, audience: 'orders-api', typ: 'at+jwt' })
    t.equal(payload.username, 'alice', JWT_ALGORITHM)
    t.equal(protectedHeader.alg, JWT_ALGORITHM)
    const tampered = token.slice(0, -4) + (token.endsWith('AAAA') ? 'BBBB' : 'AAAA')
    await t.rejects(jwtVerify(tampered, jwks, { issuer, audience: 'orders-api' }), `${JWT_ALGORITHM}: a tampered token fails`)
  }
})

t.test('a separate Fastify app with @fastify/jwt and get-jwks verifies our tokens', async (t) => {
  const { issuer, token } = await listening(t)
  const getJwks = buildGetJwks({ issuersWhitelist: [issuer], providerDiscovery: false })
  const consumer = Fastify()
  await consumer.register(fastifyJwt, {
    decode: { complete: true },
    secret: async (_request: unknown, decoded: unknown) => {
      const { header: { kid, alg }, payload: { iss } } = decoded as { header: { kid: string, alg: string }, payload: { iss: string } }
      return getJwks.getPublicKey({ kid, alg, domain: iss })
    },
    verify: { algorithms: ['ES256'], allowedIss: issuer, allowedAud: 'orders-api' }
  })
  consumer.get('/orders', async (request, reply) => {
    try {
      const claims = await request.jwtVerify<{ username: string }>()
      return { for: claims.username }
    } catch {
      return reply.code(401).send({ error: 'unauthorized' })
    }
  })
  t.teardown(() => consumer.close())
  const ok = await consumer.inject({ method: 'GET', url: '/orders', headers: { authorization: `Bearer ${token}` } })
  t.equal(ok.statusCode, 200)
  t.same(ok.json(), { for: 'alice' })
  const forged = token.split('.').slice(0, 2).join('.') + '.' + Buffer.alloc(64).toString('base64url')
  t.equal((await consumer.inject({ method: 'GET', url: '/orders', headers: { authorization: `Bearer ${forged}` } })).statusCode, 401)
})

t.test('a shared HS256 secret is never published', async (t) => {
  const app = await build(t, testEnv(t, { JWT_ALGORITHM: 'HS256', JWT_SECRET: randomBytes(32).toString('hex') }))
  t.same((await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json(), { keys: [] })
  await addUser(app, 'alice', PASSWORD)
  t.equal(claimsOf(await tokenFor(app, 'alice', PASSWORD)).username, 'alice')
})
