import fastifyJwt, { type TokenOrHeader } from '@fastify/jwt'
import type { FastifyRequest, onRequestHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { HttpError, InvalidTokenError, UnavailableError } from '../src/http/errors.js'
import { AccessTokenVerifier, bearerToken, hasSecondAuthorization, verifyOptions, type AccessTokenClaims, type AccessTokenPayload } from '../src/tokens/access-tokens.js'

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: AccessTokenPayload
    user: AccessTokenClaims
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    // Routes that need a user list it in onRequest: onRequest: [fastify.authenticate]. Routes that prefer
    // @fastify/jwt's form call `await request.jwtVerify()`; both give the same answer for every token.
    authenticate: onRequestHookHandler
    accessTokens: AccessTokenVerifier
  }
}

// The one verifier behind fastify.authenticate and request.jwtVerify(): signature and claims by our rules
// (src/tokens/access-tokens.ts), then revocation, from memory only.
export default fp(async function authenticate (fastify) {
  const config = fastify.config
  const keys = fastify.keys
  const revocations = fastify.revocations
  const settings = {
    algorithm: config.JWT_ALGORITHM,
    issuer: config.JWT_ISSUER,
    audience: config.JWT_AUDIENCE,
    clockToleranceSeconds: config.JWT_CLOCK_TOLERANCE
  }
  const verifier = new AccessTokenVerifier(settings, (kid) => keys.verifying(kid), (claims) => revocations.has(claims.sid), fastify.clock)
  fastify.decorate('accessTokens', verifier)

  const readiness = fastify.readiness

  // The claims of the request's access token, or the error that refuses it. Synchronous, no I/O. Until
  // start-up has loaded the keys and the revocation list, no token can be judged: 503.
  function authorize (request: FastifyRequest): AccessTokenClaims | HttpError {
    if (!readiness.started) return new UnavailableError('starting', 'The service is starting; retry shortly')
    const header = request.headers.authorization
    if (header === undefined) return new InvalidTokenError('Missing bearer token', false)
    if (hasSecondAuthorization(request.raw.rawHeaders)) return new InvalidTokenError('Send one Authorization header')
    const claims = verifier.verifyAuthorization(header)
    if (claims === undefined) {
      // At debug level only, for operators chasing a refusal: the headers that came (the logger's `headers`
      // serializer logs an allow-list of them; every other value, Authorization's included, is censored).
      request.log.debug({ headers: request.headers }, 'access token refused')
      return new InvalidTokenError('Invalid or expired token')
    }
    return claims
  }

  // The hot path, run before every protected route: synchronous, no promise, no store access.
  fastify.decorate('authenticate', function authenticate (request, _reply, done) {
    const result = authorize(request)
    if (result instanceof HttpError) return done(result)
    request.user = result
    done()
  } satisfies onRequestHookHandler)

  // @fastify/jwt gives requests jwtVerify(). The token is taken by the same rules as above and refused
  // with the same errors; fast-jwt then checks it again with the same verify options and our key chosen
  // by kid, and `trusted` asks our verifier once more (a cache hit) and requires the same token, so that
  // options a route passes to jwtVerify() can only make it stricter.
  await fastify.register(fastifyJwt, {
    secret: {
      public: async (_request: FastifyRequest, token: TokenOrHeader) => {
        const key = keys.verifying('header' in token ? token.header.kid : token.kid)
        if (!key) throw new InvalidTokenError('Invalid or expired token')
        return key.publicKey
      }
    },
    decode: { complete: true },
    verify: {
      ...verifyOptions(settings),
      extractToken (request: FastifyRequest) {
        const result = authorize(request)
        if (result instanceof HttpError) throw result
        return bearerToken(request.headers.authorization!)
      }
    },
    // The token fast-jwt verified must be the one our verifier accepts in the Authorization header: a
    // route that takes its token from elsewhere (its own extractToken) is refused rather than trusted.
    trusted: (request: FastifyRequest, verified: { jti?: unknown }) => {
      const claims = authorize(request)
      return !(claims instanceof HttpError) && claims.jti === verified.jti
    },
    messages: {
      authorizationTokenUntrusted: 'Invalid or expired token',
      authorizationTokenInvalid: 'Invalid or expired token',
      authorizationTokenExpiredMessage: 'Invalid or expired token'
    }
  })
}, { name: 'authenticate', dependencies: ['env', 'readiness', 'services'] })
