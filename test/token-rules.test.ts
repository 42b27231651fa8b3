import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { addUser, bearer, build, claimsOf, greet, jwtVerifyAppPath, loginTokens, PASSWORD, signWithAppKey, testEnv, tokenFor } from './support/index.js'

// jwtVerifyAppPath: the app with a route written with request.jwtVerify(); both forms must agree.
const withJwtVerify = jwtVerifyAppPath
const P256_ORDER = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551')

function sValue (token: string): bigint {
  return BigInt('0x' + Buffer.from(token.split('.')[2], 'base64url').subarray(32).toString('hex'))
}

// The other spelling of an ES256 token: (r, s) → (r, n − s), which verifies as well.
function flipS (token: string): string {
  const [h, p, sig] = token.split('.')
  const bytes = Buffer.from(sig, 'base64url')
  Buffer.from((P256_ORDER - sValue(token)).toString(16).padStart(64, '0'), 'hex').copy(bytes, 32)
  return `${h}.${p}.${bytes.toString('base64url')}`
}

async function statuses (app: FastifyInstance, token: string): Promise<number[]> {
  const out = []
  for (const url of ['/', '/via-jwt-verify']) out.push((await app.inject({ method: 'GET', url, headers: bearer(token) })).statusCode)
  return out
}

t.test('ES256 tokens are signed low-S; the high-S spelling is refused for keys made since', async (t) => {
  const app = await build(t, testEnv(t), { app: withJwtVerify })
  await addUser(app, 'alice', PASSWORD)
  const tokens = []
  for (let i = 0; i < 8; i++) tokens.push(await tokenFor(app, 'alice', PASSWORD))
  t.ok(tokens.every((tok) => sValue(tok) <= P256_ORDER / 2n), 'every signature is low-S')
  t.ok(app.keys.signing().lowS, 'the key is marked low-S')
  for (const token of tokens.slice(0, 3)) {
    t.same(await statuses(app, token), [200, 200], 'the token passes both routes')
    t.same(await statuses(app, flipS(token)), [401, 401], 'its high-S twin is refused by both')
  }
})

t.test('a key made before low-S signing keeps verifying both spellings until it retires', async (t) => {
  const env = testEnv(t)
  const first = await build(t, env)
  const kid = first.keys.signing().kid
  await first.db.updateTable('signing_keys').set({ low_s: 0 }).where('kid', '=', kid).execute() // as migration 0004 left it
  await first.close()

  const app = await build(t, env, { app: withJwtVerify })
  t.notOk(app.keys.signing().lowS, 'the old key is not marked')
  await addUser(app, 'alice', PASSWORD)
  const token = await tokenFor(app, 'alice', PASSWORD)
  t.same(await statuses(app, token), [200, 200], 'its tokens verify: nobody is logged out by the upgrade')
  t.same(await statuses(app, flipS(token)), [200, 200], 'the high-S spelling too, as before the upgrade')
})

t.test('64 case spellings of Bearer with one token leave one cache entry', async (t) => {
  const app = await build(t)
  await addUser(app, 'alice', PASSWORD)
  const token = await tokenFor(app, 'alice', PASSWORD)
  const before = app.accessTokens.cacheSize
  for (let mask = 0; mask < 64; mask++) {
    const scheme = [...'bearer'].map((c, i) => (mask >> i) & 1 ? c.toUpperCase() : c).join('')
    t.equal((await greet(app, `${scheme} ${token}`)).statusCode, 200, scheme)
  }
  t.equal(app.accessTokens.cacheSize - before, 1, 'one entry')
})

t.test('the cache is keyed by a token\'s tail, but only the whole token is a hit: a forgery with a cached signature is refused', async (t) => {
  const app = await build(t, testEnv(t), { app: withJwtVerify })
  await addUser(app, 'alice', PASSWORD)
  const token = await tokenFor(app, 'alice', PASSWORD)
  t.same(await statuses(app, token), [200, 200], 'valid, and now cached')
  const [header, payload, signature] = token.split('.')
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString())
  const forged = `${header}.${Buffer.from(JSON.stringify({ ...claims, username: 'mallory', roles: ['admin'] })).toString('base64url')}.${signature}`
  const entries = app.accessTokens.cacheSize
  t.same(await statuses(app, forged), [401, 401], 'another payload under the cached signature is verified, and refused')
  t.not((await greet(app, `Bearer ${forged}`)).body, 'Welcome, mallory!')
  t.equal(app.accessTokens.cacheSize, entries, 'the refusal added no entry')
  t.equal((await greet(app, `Bearer ${token}`)).body, 'Welcome, alice!', 'the cached token still passes')
})

t.test('a token whose iat is in the future beyond the clock tolerance is refused', async (t) => {
  const app = await build(t, testEnv(t, { JWT_CLOCK_TOLERANCE: '5' }), { app: withJwtVerify })
  const user = await addUser(app, 'alice', PASSWORD)
  const { token } = await loginTokens(app, 'alice', PASSWORD)
  const { sid } = claimsOf<{ sid: string }>(token)
  const nowSeconds = Math.floor(Date.now() / 1000)
  const sign = (iat: number) => signWithAppKey(app, { sub: user.id, username: 'alice', sid, iat }, { expiresIn: 7200_000 })
  t.same(await statuses(app, await sign(nowSeconds + 3600)), [401, 401], 'iat an hour ahead')
  t.same(await statuses(app, await sign(nowSeconds + 60)), [401, 401], 'iat a minute ahead')
  t.same(await statuses(app, await sign(nowSeconds + 3)), [200, 200], 'iat inside the tolerance passes')
})

t.test('the verified-token cache never keeps a token alive past its exp', async (t) => {
  let now = Date.now()
  const app = await build(t, testEnv(t, { ACCESS_TOKEN_TTL: '60', JWT_CLOCK_TOLERANCE: '5' }), { clock: () => now, app: withJwtVerify })
  await addUser(app, 'alice', PASSWORD)
  const { token } = await loginTokens(app, 'alice', PASSWORD)
  t.same(await statuses(app, token), [200, 200], 'valid, and now cached')
  now += 64_000
  t.same(await statuses(app, token), [200, 200], 'inside the tolerance after exp')
  now += 2_000
  t.same(await statuses(app, token), [401, 401], 'refused once exp + tolerance has passed, cached or not')
})

t.test('request.jwtVerify() refuses a logged-out session\'s token, as fastify.authenticate does', async (t) => {
  const app = await build(t, testEnv(t), { app: withJwtVerify })
  await addUser(app, 'alice', PASSWORD)
  const { token } = await loginTokens(app, 'alice', PASSWORD)
  const res = await app.inject({ method: 'GET', url: '/via-jwt-verify', headers: bearer(token) })
  t.equal(res.statusCode, 200)
  t.equal(res.body, 'Welcome, alice!')
  t.equal((await app.inject({ method: 'POST', url: '/logout', headers: bearer(token) })).statusCode, 204)
  const after = await app.inject({ method: 'GET', url: '/via-jwt-verify', headers: bearer(token) })
  t.equal(after.statusCode, 401)
  t.same(after.json(), { statusCode: 401, error: 'Unauthorized', message: 'Invalid or expired token', code: 'invalid_token' }, 'the same answer as GET /')
  t.match(after.headers['www-authenticate'], /error="invalid_token"/)
  const elsewhere = await app.inject({ method: 'GET', url: '/via-jwt-verify-own-extract', headers: { 'x-access-token': token, ...bearer(token) } })
  t.equal(elsewhere.statusCode, 401, 'a route that takes the token from elsewhere cannot loosen the rules')
  const fresh = await loginTokens(app, 'alice', PASSWORD)
  const other = await app.inject({ method: 'GET', url: '/via-jwt-verify-own-extract', headers: { 'x-access-token': token, ...bearer(fresh.token) } })
  t.equal(other.statusCode, 401, 'nor accept a logged-out token beside a valid Authorization header')
  const same = await app.inject({ method: 'GET', url: '/via-jwt-verify-own-extract', headers: { 'x-access-token': fresh.token, ...bearer(fresh.token) } })
  t.equal(same.statusCode, 200, 'the same valid token in both places passes')
  const none = await app.inject({ method: 'GET', url: '/via-jwt-verify' })
  t.equal(none.statusCode, 401)
  t.same(none.json(), (await greet(app)).json(), 'no token: the same answer as GET /')
})
