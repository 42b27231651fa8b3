import { createVerifier } from 'fast-jwt'
import { randomUUID } from 'node:crypto'
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

export interface VerificationSettings {
  key: Buffer
  kid: string
  algorithm: 'HS256'
  issuer: string
  audience: string
  clockToleranceSeconds: number
}

// fast-jwt verify options: the algorithm pinned (never read from the token), `typ` checked, strings not
// RegExps for issuer and audience, every claim required. fast-jwt also checks the claims' types (an `exp`
// that is a string, an `iss` that is an array fail), rejects any `crit` extension and non-canonical
// signatures, and never reads `jku`, `x5u`, `jwk` or `x5c`. @fastify/jwt's request.jwtVerify() is given
// the same options.
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

// What fast-jwt does not check: the key id must be ours, the signature's base64url canonical (another
// spelling of the same bytes would be a second token that verifies), and our own claims typed right.
function acceptable (token: string, claims: AccessTokenClaims, kid: string): boolean {
  const signature = token.slice(token.lastIndexOf('.') + 1)
  if (Buffer.from(signature, 'base64url').toString('base64url') !== signature) return false
  let header: { kid?: unknown }
  try {
    header = JSON.parse(Buffer.from(token.slice(0, token.indexOf('.')), 'base64url').toString())
  } catch {
    return false
  }
  return header.kid === kid &&
    typeof claims.sub === 'string' && typeof claims.sid === 'string' && typeof claims.username === 'string' &&
    Array.isArray(claims.roles) && claims.roles.every((r) => typeof r === 'string')
}

// Verifies access tokens on the hot path. A header that verified is remembered until its token expires, so
// a client's later requests cost a Map look-up instead of an HMAC, a base64 decode and a JSON parse. The
// cache key is the whole Authorization header, signature included: only byte-identical headers hit.
// Failures are never cached, so nobody but a holder of valid tokens can add entries, and it is bounded.
export class AccessTokenVerifier {
  readonly #verify: (token: string) => AccessTokenClaims
  readonly #cache = new Map<string, AccessTokenClaims>()
  readonly #maxEntries: number
  readonly #isRevoked: (claims: AccessTokenClaims) => boolean
  readonly #kid: string
  readonly #toleranceSeconds: number

  // `isRevoked` is asked on every call, cached or not: it must answer from memory.
  constructor (settings: VerificationSettings, isRevoked: (claims: AccessTokenClaims) => boolean, maxEntries = 100_000) {
    this.#verify = createVerifier({ key: settings.key, ...verifyOptions(settings), cache: false })
    this.#isRevoked = isRevoked
    this.#maxEntries = maxEntries
    this.#kid = settings.kid
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
    let claims: AccessTokenClaims
    try {
      claims = this.#verify(token)
    } catch {
      return undefined
    }
    if (!acceptable(token, claims, this.#kid) || this.#isRevoked(claims)) return undefined
    if (this.#cache.size >= this.#maxEntries) {
      // Oldest first: Map iterates in insertion order.
      this.#cache.delete(this.#cache.keys().next().value!)
    }
    this.#cache.set(header, Object.freeze(claims)) // shared by every request that presents it
    return claims
  }
}

// The token of an `Authorization: Bearer <token>` header; the scheme is case-insensitive (RFC 7235).
export function bearerToken (header: string): string | undefined {
  if (header.length < 8 || header.charCodeAt(6) !== 32 || header.slice(0, 6).toLowerCase() !== 'bearer') return undefined
  const token = header.slice(7)
  return token.length > 0 && !token.includes(' ') ? token : undefined
}
