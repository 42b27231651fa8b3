import type { FastifyInstance } from 'fastify'
import { createHmac, createPublicKey, generateKeyPairSync, randomBytes, sign as cryptoSign } from 'node:crypto'
import { createServer } from 'node:http'
import { connect } from 'node:net'
import t from 'tap'
import { addUser, build, jwtVerifyAppPath, loginTokens, PASSWORD, signInput, testEnv } from './support/index.js'

// Forged and malformed access tokens: each must be refused with 401 (or 413/431 for an oversized header),
// never a 500, by GET / and GET /me (fastify.authenticate) and by a route that calls request.jwtVerify() alike.
const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url')

// (r, s) → (r, n − s): the other ECDSA signature of the same input, which verifies as well.
const P256_ORDER = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551')
function highS (signature: string): string {
  const bytes = Buffer.from(signature, 'base64url')
  const s = P256_ORDER - BigInt('0x' + bytes.subarray(32).toString('hex'))
  Buffer.from(s.toString(16).padStart(64, '0'), 'hex').copy(bytes, 32)
  return bytes.toString('base64url')
}

interface Forge { header: Record<string, unknown>, claims: Record<string, unknown>, raw: (header: unknown, payload: unknown) => string }

async function setup (t: Parameters<typeof build>[0]) {
  const app = await build(t, testEnv(t), { app: jwtVerifyAppPath })
  await addUser(app, 'alice', PASSWORD)
  const { token } = await loginTokens(app, 'alice', PASSWORD)
  const [h, p] = token.split('.')
  const header = JSON.parse(Buffer.from(h, 'base64url').toString())
  const claims = JSON.parse(Buffer.from(p, 'base64url').toString())
  const key = app.keys.signing()
  // Signs any header and payload (objects, or raw JSON text) with the service's own key: a forger who got
  // everything right but one thing.
  const raw = (hdr: unknown, payload: unknown) => {
    const input = `${b64(hdr)}.${b64(payload)}`
    return `${input}.${signInput(key, input)}`
  }
  return { app, token, forge: { header, claims, raw } satisfies Forge }
}

async function refusedEverywhere (t: Parameters<typeof build>[0], app: FastifyInstance, name: string, authorization: string) {
  for (const url of ['/', '/me', '/via-jwt-verify']) {
    const res = await app.inject({ method: 'GET', url, headers: { authorization } })
    t.ok([401, 413, 431].includes(res.statusCode), `${name}: ${url} refused (${res.statusCode})`)
    t.not(res.statusCode, 500)
    if (res.statusCode === 401) t.match(res.headers['www-authenticate'], /^Bearer realm="auth-service"/, `${name}: ${url} challenge`)
  }
}

t.test('a control: the genuine token and a correctly re-signed copy pass', async (t) => {
  const { app, token, forge } = await setup(t)
  t.equal((await app.inject({ method: 'GET', url: '/', headers: { authorization: `Bearer ${token}` } })).statusCode, 200)
  const resigned = forge.raw(forge.header, forge.claims)
  t.equal((await app.inject({ method: 'GET', url: '/me', headers: { authorization: `Bearer ${resigned}` } })).statusCode, 200)
})

t.test('alg none in every spelling, with and without a signature', async (t) => {
  const { app, token, forge } = await setup(t)
  const [, payload, signature] = token.split('.')
  for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
    const header = b64({ ...forge.header, alg })
    await refusedEverywhere(t, app, `alg ${alg}, no signature`, `Bearer ${header}.${payload}.`)
    await refusedEverywhere(t, app, `alg ${alg}, original signature`, `Bearer ${header}.${payload}.${signature}`)
  }
})

t.test('broken signatures and tampered payloads', async (t) => {
  const { app, token, forge } = await setup(t)
  const [header, payload, signature] = token.split('.')
  const flipped = Buffer.from(signature, 'base64url')
  flipped[5] ^= 0x01
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  // A signature's last base64url character carries padding bits (2 of them for 32 bytes, 4 for 64):
  // flipping the lowest gives a non-canonical encoding of the very same signature.
  const last = alphabet.indexOf(signature.at(-1)!)
  const nonCanonical = signature.slice(0, -1) + alphabet[last ^ 1]
  t.same(Buffer.from(nonCanonical, 'base64url'), Buffer.from(signature, 'base64url'), 'the same bytes')
  const cases = {
    'empty signature': `${header}.${payload}.`,
    'truncated signature': `${header}.${payload}.${signature.slice(0, 20)}`,
    'bit-flipped signature': `${header}.${payload}.${flipped.toString('base64url')}`,
    'tampered payload, original signature': `${header}.${b64({ ...forge.claims, roles: ['admin'] })}.${signature}`,
    'non-canonical base64url signature': `${header}.${payload}.${nonCanonical}`,
    'high-S twin of the signature (ECDSA malleability)': `${header}.${payload}.${highS(signature)}`,
    'padded base64': `${header}.${payload}.${signature}=`,
    'two parts': `${header}.${payload}`,
    'four parts': `${token}.${signature}`
  }
  for (const [name, forged] of Object.entries(cases)) await refusedEverywhere(t, app, name, `Bearer ${forged}`)
})

t.test('kid values that are not our key\'s, on tokens otherwise correctly signed', async (t) => {
  const { app, forge } = await setup(t)
  for (const kid of ['', 'unknown', '../../../../dev/null', "' OR '1'='1", '0'.repeat(512), 42, null]) {
    await refusedEverywhere(t, app, `kid ${JSON.stringify(kid)}`, `Bearer ${forge.raw({ ...forge.header, kid }, forge.claims)}`)
  }
  const { kid: _, ...noKid } = forge.header
  await refusedEverywhere(t, app, 'no kid', `Bearer ${forge.raw(noKid, forge.claims)}`)
})

t.test('keys offered by the token itself are never used: jwk, jku, x5u, x5c', async (t) => {
  const { app, forge } = await setup(t)
  let fetched = 0
  const attacker = createServer((_req, res) => { fetched++; res.end('{"keys":[]}') })
  await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve))
  t.teardown(() => attacker.close())
  const url = `http://127.0.0.1:${(attacker.address() as { port: number }).port}/jwks.json`

  const secret = randomBytes(32) // the attacker's own
  const signWith = (header: Record<string, unknown>) => {
    const input = `${b64(header)}.${b64({ ...forge.claims, roles: ['admin'] })}`
    return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`
  }
  await refusedEverywhere(t, app, 'embedded jwk', `Bearer ${signWith({ ...forge.header, jwk: { kty: 'oct', k: secret.toString('base64url') } })}`)
  await refusedEverywhere(t, app, 'jku to an attacker', `Bearer ${signWith({ ...forge.header, jku: url })}`)
  await refusedEverywhere(t, app, 'x5u to an attacker', `Bearer ${signWith({ ...forge.header, x5u: url })}`)

  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const es = { ...forge.header, alg: 'ES256', jwk: publicKey.export({ format: 'jwk' }), jku: url }
  const input = `${b64(es)}.${b64(forge.claims)}`
  const esToken = `${input}.${cryptoSign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`
  await refusedEverywhere(t, app, 'ES256 with its own embedded key', `Bearer ${esToken}`)
  t.equal(fetched, 0, 'the attacker\'s JWKS was never fetched')
})

t.test('signatures that must never verify: ES256 all-zero (CVE-2022-21449), DER-encoded, and other algorithms', async (t) => {
  const { app, token, forge } = await setup(t) // ES256, the default
  const [header, payload] = token.split('.')
  const zero = Buffer.alloc(64).toString('base64url')
  const derZero = Buffer.from('3006020100020100', 'hex').toString('base64url')
  // Our own valid signature of this very input, but DER-encoded as X.509 uses it instead of JOSE's r||s.
  const der = cryptoSign('sha256', Buffer.from(`${header}.${payload}`), { key: app.keys.signing().privateKey as string, dsaEncoding: 'der' }).toString('base64url')
  const cases = {
    'ES256 all-zero signature': `${header}.${payload}.${zero}`,
    'ES256 DER-encoded zero signature': `${header}.${payload}.${derZero}`,
    'ES256 genuine signature, DER-encoded': `${header}.${payload}.${der}`,
    'RS256 header': `${b64({ ...forge.header, alg: 'RS256' })}.${payload}.${zero}`,
    'HS512 header': `${b64({ ...forge.header, alg: 'HS512' })}.${payload}.${zero}`,
    'EdDSA header': `${b64({ ...forge.header, alg: 'EdDSA' })}.${payload}.${zero}`
  }
  for (const [name, forged] of Object.entries(cases)) await refusedEverywhere(t, app, name, `Bearer ${forged}`)
})

t.test('claims that are wrong in kind or time, correctly signed', async (t) => {
  const { app, forge } = await setup(t)
  const now = Math.floor(Date.now() / 1000)
  const cases: Record<string, unknown> = {
    expired: { ...forge.claims, iat: now - 3600, exp: now - 60 },
    'nbf in the future': { ...forge.claims, nbf: now + 3600 },
    'exp as a string': { ...forge.claims, exp: String(now + 3600) },
    'iss as an array': { ...forge.claims, iss: [forge.claims.iss] },
    'aud of another API': { ...forge.claims, aud: 'another-api' },
    'sub as a number': { ...forge.claims, sub: 7 },
    'sid missing': { ...forge.claims, sid: undefined },
    'roles as a string': { ...forge.claims, roles: 'admin' },
    'payload is an array': [forge.claims],
    'payload is a string': 'hello',
    'payload is not JSON': '{"sub":'
  }
  for (const [name, payload] of Object.entries(cases)) await refusedEverywhere(t, app, name, `Bearer ${forge.raw(forge.header, payload)}`)
  await refusedEverywhere(t, app, 'typ JWT instead of at+jwt', `Bearer ${forge.raw({ ...forge.header, typ: 'JWT' }, forge.claims)}`)
  await refusedEverywhere(t, app, 'an unknown crit extension', `Bearer ${forge.raw({ ...forge.header, crit: ['exp-v2'], 'exp-v2': 1 }, forge.claims)}`)
})

t.test('schemes and sizes', async (t) => {
  const { app, token } = await setup(t)
  await refusedEverywhere(t, app, 'Bearer alone', 'Bearer')
  await refusedEverywhere(t, app, 'Bearer and a space', 'Bearer ')
  await refusedEverywhere(t, app, 'Basic scheme', `Basic ${token}`)
  await refusedEverywhere(t, app, 'Token scheme', `Token ${token}`)
  await refusedEverywhere(t, app, 'no scheme', token)
  await refusedEverywhere(t, app, 'two spaces', `Bearer  ${token}`)
  await refusedEverywhere(t, app, 'a 100 KB token', `Bearer ${'a'.repeat(100_000)}.${'b'.repeat(10)}.c`)
  for (const scheme of ['bearer', 'BEARER', 'BeArEr']) {
    const res = await app.inject({ method: 'GET', url: '/', headers: { authorization: `${scheme} ${token}` } })
    t.equal(res.statusCode, 200, `the scheme name is case-insensitive: ${scheme}`)
  }
})

t.test('a listening server: two Authorization headers and a 100 KB header, sent raw', async (t) => {
  const { app, token } = await setup(t)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as { port: number }).port
  const send = (headers: string) => new Promise<string>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.end(`GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n${headers}\r\n`))
    let data = ''
    socket.on('data', (d) => { data += d })
    socket.on('end', () => resolve(data))
    // Node 26 resets a connection whose headers overflowed right after writing the 431 (Node 20 closed it
    // gracefully): the answer came before the reset.
    socket.on('error', (err) => data === '' ? reject(err) : resolve(data))
  })
  t.match(await send(`Authorization: Bearer ${token}\r\n`), /^HTTP\/1.1 200/, 'the control passes')
  for (const [name, headers] of [
    ['valid then garbage', `Authorization: Bearer ${token}\r\nAuthorization: Bearer nonsense\r\n`],
    ['garbage then valid', `Authorization: Bearer nonsense\r\nAuthorization: Bearer ${token}\r\n`],
    ['valid twice', `Authorization: Bearer ${token}\r\nauthorization: Bearer ${token}\r\n`]
  ]) {
    const answer = await send(headers)
    t.match(answer, /^HTTP\/1.1 401/, `${name}: 401`)
    t.match(answer, /www-authenticate: Bearer realm="auth-service", error="invalid_token"/i)
  }
  t.match(await send(`Authorization: Bearer ${'a'.repeat(100_000)}\r\n`), /^HTTP\/1.1 431/, 'a 100 KB header: 431 from the HTTP parser')
})

t.test('key confusion: HS256 signed with our public key, in every encoding an attacker might try', async (t) => {
  for (const JWT_ALGORITHM of ['ES256', 'RS256', 'EdDSA']) {
    const app = await build(t, testEnv(t, { JWT_ALGORITHM }), { app: jwtVerifyAppPath })
    await addUser(app, 'alice', PASSWORD)
    const { token } = await loginTokens(app, 'alice', PASSWORD)
    const [h, p] = token.split('.')
    const header = { ...JSON.parse(Buffer.from(h, 'base64url').toString()), alg: 'HS256' }
    const pem = app.keys.signing().publicKey as string
    const publicKey = createPublicKey(pem)
    const secrets: Record<string, string | Buffer> = {
      'PEM with its trailing newline': pem.endsWith('\n') ? pem : pem + '\n',
      'PEM without its trailing newline': pem.trimEnd(),
      'SPKI DER': publicKey.export({ format: 'der', type: 'spki' }),
      'the JWK JSON': JSON.stringify(publicKey.export({ format: 'jwk' })),
      ...(JWT_ALGORITHM === 'RS256' && { 'PKCS#1 PEM': publicKey.export({ format: 'pem', type: 'pkcs1' }) })
    }
    for (const [name, secret] of Object.entries(secrets)) {
      const input = `${b64(header)}.${p}`
      const forged = `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`
      await refusedEverywhere(t, app, `${JWT_ALGORITHM} service, HS256 with ${name}`, `Bearer ${forged}`)
    }
  }
})
