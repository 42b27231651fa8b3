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
  algorithm: 'HS256'
  issuer: string
  audience: string
}

// fast-jwt verify options: the algorithm pinned (never read from the token), strings not RegExps for
// issuer and audience, every claim required. @fastify/jwt's request.jwtVerify() is given the same.
export function verifyOptions (s: VerificationSettings) {
  return {
    algorithms: [s.algorithm],
    checkTyp: ACCESS_TOKEN_TYP,
    allowedIss: s.issuer,
    allowedAud: s.audience,
    requiredClaims: REQUIRED_CLAIMS
  }
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

  // `isRevoked` is asked on every call, cached or not: it must answer from memory.
  constructor (settings: VerificationSettings, isRevoked: (claims: AccessTokenClaims) => boolean, maxEntries = 100_000) {
    this.#verify = createVerifier({ key: settings.key, ...verifyOptions(settings), cache: false })
    this.#isRevoked = isRevoked
    this.#maxEntries = maxEntries
  }

  // The claims of the Bearer token in an Authorization header, or undefined if it has none or it is not
  // valid now; never throws.
  verifyAuthorization (header: string, nowSeconds = Date.now() / 1000): AccessTokenClaims | undefined {
    const cached = this.#cache.get(header)
    if (cached !== undefined) {
      if (cached.exp > nowSeconds && !this.#isRevoked(cached)) return cached
      if (cached.exp <= nowSeconds) this.#cache.delete(header)
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
    if (this.#isRevoked(claims)) return undefined
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
