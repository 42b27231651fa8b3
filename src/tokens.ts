import { createSigner, createVerifier } from 'fast-jwt'
import { randomUUID } from 'node:crypto'
import type { SigningAlgorithm, SigningKey } from './keys.js'
import type { User } from './store/users.js'

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
}

export const REQUIRED_CLAIMS = ['sub', 'username', 'roles', 'sid', 'jti', 'iat', 'exp', 'iss', 'aud']
export const ACCESS_TOKEN_TYP = 'at+jwt'

export function accessTokenPayload (user: Pick<User, 'id' | 'username' | 'roles'>, sessionId: string): AccessTokenPayload {
  return { sub: user.id, username: user.username, roles: user.roles, sid: sessionId, jti: randomUUID() }
}

// Signs access tokens with one key: its kid and `typ: at+jwt` in the header, our issuer and audience, and
// an expiry `ttlSeconds` ahead. `overrides` are fast-jwt signer options (tests make wrong tokens with them).
export function createAccessTokenSigner (key: SigningKey, s: { issuer: string, audience: string, ttlSeconds: number },
  overrides: Record<string, unknown> = {}): (payload: object) => string {
  return createSigner({
    key: key.privateKey,
    algorithm: key.alg,
    kid: key.kid,
    header: { alg: key.alg, typ: ACCESS_TOKEN_TYP },
    iss: s.issuer,
    aud: s.audience,
    expiresIn: s.ttlSeconds * 1000,
    ...overrides
  }) as (payload: object) => string
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
    clockTolerance: s.clockToleranceSeconds * 1000
  }
}

// The kid of a token's header, read before verification to choose the key; undefined if unreadable.
export function tokenKid (token: string): unknown {
  try {
    return JSON.parse(Buffer.from(token.slice(0, token.indexOf('.')), 'base64url').toString())?.kid
  } catch {
    return undefined
  }
}

// What fast-jwt does not check: the signature's base64url must be canonical (another spelling of the same
// bytes would be a second token that verifies), and our own claims must have their types.
function acceptable (token: string, claims: AccessTokenClaims): boolean {
  const signature = token.slice(token.lastIndexOf('.') + 1)
  return Buffer.from(signature, 'base64url').toString('base64url') === signature &&
    typeof claims.sub === 'string' && typeof claims.sid === 'string' && typeof claims.username === 'string' &&
    Array.isArray(claims.roles) && claims.roles.every((r) => typeof r === 'string')
}

// Verifies access tokens on the hot path. A header that verified is remembered until its token expires, so
// a client's later requests cost a Map look-up instead of a signature check, a base64 decode and a JSON
// parse. The cache key is the whole Authorization header, signature included: only byte-identical headers
// hit. Failures are never cached, so nobody but a holder of valid tokens can add entries, and it is bounded.
// The key is chosen by the token's kid among our own keys only (`keyFor`); a key retires only after every
// token it signed has expired, so cached entries never outlive their key.
export class AccessTokenVerifier {
  readonly #keyFor: (kid: unknown) => SigningKey | undefined
  readonly #verifiers = new Map<string, (token: string) => AccessTokenClaims>()
  readonly #options: ReturnType<typeof verifyOptions>
  readonly #cache = new Map<string, AccessTokenClaims>()
  readonly #maxEntries: number
  readonly #isRevoked: (claims: AccessTokenClaims) => boolean
  readonly #toleranceSeconds: number

  // `isRevoked` is asked on every call, cached or not: it must answer from memory.
  constructor (settings: VerificationSettings, keyFor: (kid: unknown) => SigningKey | undefined,
    isRevoked: (claims: AccessTokenClaims) => boolean, maxEntries = 100_000) {
    this.#options = verifyOptions(settings)
    this.#keyFor = keyFor
    this.#isRevoked = isRevoked
    this.#maxEntries = maxEntries
    this.#toleranceSeconds = settings.clockToleranceSeconds
  }

  // The claims of the Bearer token in an Authorization header, or undefined if it has none or it is not
  // valid now; never throws.
  verifyAuthorization (header: string, nowSeconds = Date.now() / 1000): AccessTokenClaims | undefined {
    const cached = this.#cache.get(header)
    if (cached !== undefined) {
      const live = cached.exp + this.#toleranceSeconds > nowSeconds
      if (live && !this.#isRevoked(cached)) return cached
      if (!live) this.#cache.delete(header)
      return undefined
    }
    const token = bearerToken(header)
    if (token === undefined) return undefined
    const key = this.#keyFor(tokenKid(token))
    if (key === undefined) return undefined
    let claims: AccessTokenClaims
    try {
      claims = this.#verifierFor(key)(token)
    } catch {
      return undefined
    }
    if (!acceptable(token, claims) || this.#isRevoked(claims)) return undefined
    if (this.#cache.size >= this.#maxEntries) {
      // Oldest first: Map iterates in insertion order.
      this.#cache.delete(this.#cache.keys().next().value!)
    }
    this.#cache.set(header, Object.freeze(claims)) // shared by every request that presents it
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
  if (header.length < 8 || header.charCodeAt(6) !== 32 || header.slice(0, 6).toLowerCase() !== 'bearer') return undefined
  const token = header.slice(7)
  return token.length > 0 && !token.includes(' ') ? token : undefined
}
