import { createSigner, createVerifier } from 'fast-jwt'
import { randomUUID } from 'node:crypto'
import type { SigningAlgorithm, SigningKey } from './key-ring.js'
import type { User } from '../store/users.js'

// What we put in an access token; iat, exp, iss and aud are added by the signer from configuration,
// and the header says typ "at+jwt" (RFC 9068), which no other token of ours carries.
export interface AccessTokenPayload {
  sub: string
  username: string
  roles: string[]
  sid: string // the session: logout and revocation act on it
  jti: string
}

// What a verified access token carries.
export interface AccessTokenClaims extends AccessTokenPayload {
  iat: number
  exp: number
  iss: string
  aud: string
  nbf?: number
}

const REQUIRED_CLAIMS = ['sub', 'username', 'roles', 'sid', 'jti', 'iat', 'exp', 'iss', 'aud']
const ACCESS_TOKEN_TYP = 'at+jwt'

export function accessTokenPayload (user: Pick<User, 'id' | 'username' | 'roles'>, sessionId: string): AccessTokenPayload {
  return { sub: user.id, username: user.username, roles: user.roles, sid: sessionId, jti: randomUUID() }
}

// Signs access tokens with one key: its kid and `typ: at+jwt` in the header, our issuer and audience. The
// payload carries iat and exp (the session decides them and records exp); with `ttlSeconds` the signer
// sets exp itself (tests and the bench). `overrides` are fast-jwt signer options (tests make wrong tokens
// with them). ES256 signatures are made low-S (below), whatever the key.
export function createAccessTokenSigner (key: SigningKey, s: { issuer: string, audience: string, ttlSeconds?: number },
  overrides: Record<string, unknown> = {}): (payload: object) => string {
  const sign = createSigner({
    key: key.privateKey,
    algorithm: key.alg,
    kid: key.kid,
    header: { alg: key.alg, typ: ACCESS_TOKEN_TYP },
    iss: s.issuer,
    aud: s.audience,
    ...(s.ttlSeconds !== undefined && { expiresIn: s.ttlSeconds * 1000 }),
    ...overrides
  }) as (payload: object) => string
  return key.alg === 'ES256' ? (payload) => lowS(sign(payload)) : sign
}

// ECDSA signatures are malleable: if (r, s) verifies, so does (r, n − s), a second spelling of one token.
// We sign with the low half only and, for keys marked lowS (every key made since), refuse the high half.
const P256_ORDER = BigInt('0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551')
const P256_HALF_ORDER = Buffer.from((P256_ORDER >> 1n).toString(16).padStart(64, '0'), 'hex')

function isHighS (signature: Buffer): boolean {
  return signature.length === 64 && Buffer.compare(signature.subarray(32), P256_HALF_ORDER) > 0
}

export function lowS (token: string): string {
  const dot = token.lastIndexOf('.')
  const signature = Buffer.from(token.slice(dot + 1), 'base64url')
  if (!isHighS(signature)) return token
  const s = P256_ORDER - BigInt('0x' + signature.subarray(32).toString('hex'))
  Buffer.from(s.toString(16).padStart(64, '0'), 'hex').copy(signature, 32)
  return token.slice(0, dot + 1) + signature.toString('base64url')
}

export interface VerificationSettings {
  algorithm: SigningAlgorithm
  issuer: string
  audience: string
  clockToleranceSeconds: number
}

// fast-jwt verify options: the algorithm pinned (never read from the token), `typ` checked, strings not
// RegExps for issuer and audience, every claim required. fast-jwt also checks the claims' types (an `exp`
// that is a string, an `iss` that is an array fail), rejects any `crit` extension, and never reads `jku`,
// `x5u`, `jwk` or `x5c`. @fastify/jwt's request.jwtVerify() is given the same options.
export function verifyOptions (s: VerificationSettings) {
  return {
    algorithms: [s.algorithm],
    checkTyp: ACCESS_TOKEN_TYP,
    allowedIss: s.issuer,
    allowedAud: s.audience,
    requiredClaims: REQUIRED_CLAIMS,
    // Time is checked against the service's own clock, in one place (acceptable() below): fast-jwt would
    // read the system clock.
    ignoreExpiration: true,
    ignoreNotBefore: true
  }
}

// The kid of a token's header, read before verification to choose the key; undefined if unreadable.
function tokenKid (token: string): unknown {
  try {
    return JSON.parse(Buffer.from(token.slice(0, token.indexOf('.')), 'base64url').toString())?.kid
  } catch {
    return undefined
  }
}

// What fast-jwt does not check: the signature's base64url must be canonical and, for keys marked lowS,
// its ECDSA S value low (either would make a second spelling of one token that verifies); our own claims
// must have their types; and `iat` and `nbf` may not be in the future, nor `exp` in the past (beyond the
// clock tolerance), on the service's clock.
function acceptable (token: string, claims: AccessTokenClaims, key: SigningKey, nowSeconds: number, toleranceSeconds: number): boolean {
  const encoded = token.slice(token.lastIndexOf('.') + 1)
  const signature = Buffer.from(encoded, 'base64url')
  return signature.toString('base64url') === encoded &&
    !(key.lowS && key.alg === 'ES256' && isHighS(signature)) &&
    typeof claims.sub === 'string' && typeof claims.sid === 'string' && typeof claims.username === 'string' &&
    Array.isArray(claims.roles) && claims.roles.every((r) => typeof r === 'string') &&
    typeof claims.iat === 'number' && claims.iat <= nowSeconds + toleranceSeconds &&
    typeof claims.exp === 'number' && claims.exp + toleranceSeconds > nowSeconds &&
    (claims.nbf === undefined || (typeof claims.nbf === 'number' && claims.nbf <= nowSeconds + toleranceSeconds))
}

// Verifies access tokens on the hot path. A token that verified is remembered until it expires, so a
// client's later requests cost a Map look-up instead of a signature check, a base64 decode and a JSON
// parse. The cache key is the token itself (not the header: `Bearer` has 64 case spellings), and a token
// has one accepted spelling (canonical base64url, low-S), so one token costs at most one entry. Failures
// are never cached, so nobody but a holder of valid tokens can add entries, and it is bounded. The key is
// chosen by the token's kid among our own keys only (`keyFor`); a key retires only after every token it
// signed has expired, so cached entries never outlive their key.
export class AccessTokenVerifier {
  readonly #keyFor: (kid: unknown) => SigningKey | undefined
  readonly #verifiers = new Map<string, (token: string) => AccessTokenClaims>()
  readonly #options: ReturnType<typeof verifyOptions>
  readonly #cache = new Map<string, AccessTokenClaims>()
  readonly #maxEntries: number
  readonly #isRevoked: (claims: AccessTokenClaims) => boolean
  readonly #toleranceSeconds: number
  readonly #now: () => number
  // Look-ups that found the token in the cache, and that did not: plain integers on the hot path, read
  // by the metrics at scrape time.
  #hits = 0
  #misses = 0

  // `isRevoked` is asked on every call, cached or not: it must answer from memory. `now` is the service's
  // clock (epoch ms).
  constructor (settings: VerificationSettings, keyFor: (kid: unknown) => SigningKey | undefined,
    isRevoked: (claims: AccessTokenClaims) => boolean, now: () => number = Date.now, maxEntries = 100_000) {
    this.#options = verifyOptions(settings)
    this.#keyFor = keyFor
    this.#isRevoked = isRevoked
    this.#maxEntries = maxEntries
    this.#toleranceSeconds = settings.clockToleranceSeconds
    this.#now = now
  }

  get cacheSize (): number {
    return this.#cache.size
  }

  get cacheHits (): number {
    return this.#hits
  }

  get cacheMisses (): number {
    return this.#misses
  }

  // The claims of the Bearer token in an Authorization header, or undefined if it has none or it is not
  // valid now; never throws.
  verifyAuthorization (header: string): AccessTokenClaims | undefined {
    const token = bearerToken(header)
    return token === undefined ? undefined : this.verifyToken(token)
  }

  verifyToken (token: string): AccessTokenClaims | undefined {
    const nowSeconds = this.#now() / 1000
    const cached = this.#cache.get(token)
    if (cached !== undefined) {
      this.#hits++
      const live = cached.exp + this.#toleranceSeconds > nowSeconds
      if (live && !this.#isRevoked(cached)) return cached
      if (!live) this.#cache.delete(token)
      return undefined
    }
    this.#misses++
    const key = this.#keyFor(tokenKid(token))
    if (key === undefined) return undefined
    let claims: AccessTokenClaims
    try {
      claims = this.#verifierFor(key)(token)
    } catch {
      return undefined
    }
    if (!acceptable(token, claims, key, nowSeconds, this.#toleranceSeconds) || this.#isRevoked(claims)) return undefined
    if (this.#cache.size >= this.#maxEntries) {
      // Oldest first: Map iterates in insertion order.
      this.#cache.delete(this.#cache.keys().next().value!)
    }
    this.#cache.set(token, Object.freeze(claims)) // shared by every request that presents it
    return claims
  }

  #verifierFor (key: SigningKey) {
    let verify = this.#verifiers.get(key.kid)
    if (verify === undefined) {
      verify = createVerifier({ ...this.#options, key: key.publicKey, cache: false }) as (token: string) => AccessTokenClaims
      this.#verifiers.set(key.kid, verify)
    }
    return verify
  }
}

// The token of an `Authorization: Bearer <token>` header; the scheme is case-insensitive (RFC 7235).
export function bearerToken (header: string): string | undefined {
  if (header.length < 8 || header.charCodeAt(6) !== 32) return undefined
  if (!header.startsWith('Bearer') && header.slice(0, 6).toLowerCase() !== 'bearer') return undefined
  const token = header.slice(7)
  return token.length > 0 && !token.includes(' ') ? token : undefined
}

// Node keeps the first of several Authorization headers and drops the rest: whether a request carried more
// than one, from its raw headers. Such a request is ambiguous (which one did a proxy check?), so every
// route that reads the header refuses it: the protected routes (401), /metrics (its 404).
export function hasSecondAuthorization (rawHeaders: string[]): boolean {
  let seen = 0
  for (let i = 0; i < rawHeaders.length; i += 2) {
    if (rawHeaders[i].length === 13 && rawHeaders[i].toLowerCase() === 'authorization' && ++seen > 1) return true
  }
  return false
}
