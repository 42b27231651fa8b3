import fastifyJwt, { type TokenOrHeader } from '@fastify/jwt'
import type { Static } from '@sinclair/typebox'
import type { FastifyRequest, onRequestHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { HttpError } from '../src/errors.js'
import type { SigningKey } from '../src/keys.js'
import type { TokenResponse } from '../src/schemas.js'
import type { IssuedRefreshToken } from '../src/sessions.js'
import type { User } from '../src/store/users.js'
import {
  AccessTokenVerifier, accessTokenPayload, createAccessTokenSigner, verifyOptions, type AccessTokenClaims, type AccessTokenPayload
} from '../src/tokens.js'

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: AccessTokenPayload
    user: AccessTokenClaims
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    // Routes that need a user list it in onRequest.
    authenticate: onRequestHookHandler
    // The body of a successful login or refresh: a new access token for the session, and its refresh token.
    tokenResponse: (user: User, issued: IssuedRefreshToken) => Static<typeof TokenResponse>
  }
}

// RFC 6750 §3: a challenge on every 401, and error="invalid_token" when a token was sent.
const CHALLENGE = 'Bearer realm="auth-service"'
const INVALID_TOKEN_CHALLENGE = CHALLENGE + ', error="invalid_token"'

// Node keeps the first of several Authorization headers and drops the rest; a request carrying two is
// ambiguous (which one did a proxy check?), so it is refused.
function hasSecondAuthorization (raw: string[]): boolean {
  let seen = 0
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].length === 13 && raw[i].toLowerCase() === 'authorization' && ++seen > 1) return true
  }
  return false
}

export default fp(async function jwt (fastify) {
  const config = fastify.config
  const keys = fastify.keys
  const settings = {
    algorithm: config.JWT_ALGORITHM,
    issuer: config.JWT_ISSUER,
    audience: config.JWT_AUDIENCE,
    clockToleranceSeconds: config.JWT_CLOCK_TOLERANCE
  }

  // @fastify/jwt gives requests jwtVerify(), with the same verify options and the key chosen by kid among
  // ours. It checks signature and claims only, not revocation: routes use fastify.authenticate.
  await fastify.register(fastifyJwt, {
    secret: {
      public: async (_request: FastifyRequest, token: TokenOrHeader) => {
        const key = keys.verifying('header' in token ? token.header.kid : token.kid)
        if (!key) throw new Error('unknown key')
        return key.publicKey
      }
    },
    decode: { complete: true },
    verify: verifyOptions(settings)
  })

  // Signs with whichever key is active now: a rotation takes over without a restart.
  const signers = new Map<string, (payload: object) => string>()
  const signerFor = (key: SigningKey) => {
    let sign = signers.get(key.kid)
    if (!sign) {
      sign = createAccessTokenSigner(key, { issuer: config.JWT_ISSUER, audience: config.JWT_AUDIENCE, ttlSeconds: config.ACCESS_TOKEN_TTL })
      signers.set(key.kid, sign)
    }
    return sign
  }

  fastify.decorate('tokenResponse', function tokenResponse (user: User, issued: IssuedRefreshToken) {
    return {
      token: signerFor(keys.signing())(accessTokenPayload(user, issued.sessionId)),
      tokenType: 'Bearer' as const,
      expiresIn: config.ACCESS_TOKEN_TTL,
      refreshToken: issued.refreshToken,
      refreshExpiresIn: issued.refreshExpiresIn
    }
  })

  // The hot path, run before every protected route: synchronous, no promise, no store access.
  const revocations = fastify.revocations
  const verifier = new AccessTokenVerifier(settings, (kid) => keys.verifying(kid), (claims) => revocations.has(claims.sid))
  fastify.decorate('authenticate', function authenticate (request, reply, done) {
    const header = request.headers.authorization
    if (header === undefined) {
      reply.header('www-authenticate', CHALLENGE)
      return done(new HttpError(401, 'Missing bearer token'))
    }
    if (hasSecondAuthorization(request.raw.rawHeaders)) {
      reply.header('www-authenticate', INVALID_TOKEN_CHALLENGE)
      return done(new HttpError(401, 'Send one Authorization header'))
    }
    const claims = verifier.verifyAuthorization(header)
    if (claims === undefined) {
      reply.header('www-authenticate', INVALID_TOKEN_CHALLENGE)
      return done(new HttpError(401, 'Invalid or expired token'))
    }
    request.user = claims
    done()
  } satisfies onRequestHookHandler)
}, { name: 'jwt', dependencies: ['env', 'store', 'keys', 'session-jobs'] })
