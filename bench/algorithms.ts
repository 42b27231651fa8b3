// npm run bench:algorithms — what each signing algorithm costs: signing and verifying with fast-jwt (what
// the service does), verifying with jose (what a consumer of our JWKS does), and the token's length.
// Informs the default of JWT_ALGORITHM; see docs/security.md, "Signing keys, JWKS and rotation" (Why ES256 by default).
import { createSigner, createVerifier } from 'fast-jwt'
import { importJWK, jwtVerify } from 'jose'
import { generateKeyPairSync, type KeyObject } from 'node:crypto'

const ALGORITHMS = ['ES256', 'EdDSA', 'RS256'] as const
const seconds = Number(process.argv[2] ?? 2)

function keyPair (alg: typeof ALGORITHMS[number]) {
  if (alg === 'ES256') return generateKeyPairSync('ec', { namedCurve: 'P-256' })
  if (alg === 'EdDSA') return generateKeyPairSync('ed25519')
  return generateKeyPairSync('rsa', { modulusLength: 2048 })
}

async function rate (fn: () => unknown | Promise<unknown>): Promise<number> {
  const end = performance.now() + seconds * 1000
  let n = 0
  const start = performance.now()
  while (performance.now() < end) { await fn(); n++ }
  return n / ((performance.now() - start) / 1000)
}

const rows = []
for (const alg of ALGORITHMS) {
  const { privateKey, publicKey } = keyPair(alg) as { privateKey: KeyObject, publicKey: KeyObject }
  const sign = createSigner({ key: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), algorithm: alg, expiresIn: 3_600_000 })
  const token = sign({ sub: 'user', username: 'alice', roles: [], sid: 'session', jti: 'id' })
  const verify = createVerifier({ key: publicKey.export({ format: 'pem', type: 'spki' }).toString(), algorithms: [alg], cache: false })
  const joseKey = await importJWK({ ...publicKey.export({ format: 'jwk' }), alg }, alg)
  rows.push({
    alg,
    'sign/s (fast-jwt)': Math.round(await rate(() => sign({ sub: 'user', jti: 'x' }))),
    'verify/s (fast-jwt)': Math.round(await rate(() => verify(token))),
    'verify/s (jose)': Math.round(await rate(() => jwtVerify(token, joseKey))),
    'token length': token.length
  })
}
console.table(rows)
