import fastifyJwt from '@fastify/jwt'
import type { onRequestHookHandler } from 'fastify'
import fp from 'fastify-plugin'
import { HttpError } from '../src/errors.js'
import { loadSigningKey } from '../src/keys.js'
import { AccessTokenVerifier, verifyOptions, type AccessTokenClaims, type AccessTokenPayload } from '../src/tokens.js'

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
  }
}

// RFC 6750 §3: a challenge on every 401, and error="invalid_token" when a token was sent.
const CHALLENGE = 'Bearer realm="auth-service"'
const INVALID_TOKEN_CHALLENGE = CHALLENGE + ', error="invalid_token"'

export default fp(async function jwt (fastify) {
  const config = fastify.config
  const key = await loadSigningKey(fastify.store.signingKeys, config.JWT_SECRET)
  const settings = { key: key.secret, algorithm: key.alg, issuer: config.JWT_ISSUER, audience: config.JWT_AUDIENCE }

  // @fastify/jwt signs (fastify.jwt.sign) and gives requests jwtVerify(), with the same verify options.
  await fastify.register(fastifyJwt, {
    secret: key.secret,
    sign: {
      algorithm: key.alg,
      kid: key.kid,
      iss: config.JWT_ISSUER,
      aud: config.JWT_AUDIENCE,
      expiresIn: config.ACCESS_TOKEN_TTL // seconds: @fastify/jwt converts numbers from seconds
    },
    verify: verifyOptions(settings)
  })

  // The hot path, run before every protected route: synchronous, no promise, no store access.
  const verifier = new AccessTokenVerifier(settings)
  fastify.decorate('authenticate', function authenticate (request, reply, done) {
    const header = request.headers.authorization
    if (header === undefined) {
      reply.header('www-authenticate', CHALLENGE)
      return done(new HttpError(401, 'Missing bearer token'))
    }
    const claims = verifier.verifyAuthorization(header)
    if (claims === undefined) {
      reply.header('www-authenticate', INVALID_TOKEN_CHALLENGE)
      return done(new HttpError(401, 'Invalid or expired token'))
    }
    request.user = claims
    done()
  } satisfies onRequestHookHandler)
}, { name: 'jwt', dependencies: ['env', 'store'] })
