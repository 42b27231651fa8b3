import fastifyJwt from '@fastify/jwt'
import type { FastifyReply, FastifyRequest } from 'fastify'
import fp from 'fastify-plugin'
import { HttpError } from '../src/errors.js'
import { loadSigningKey } from '../src/keys.js'
import { REQUIRED_CLAIMS, type AccessTokenClaims, type AccessTokenPayload } from '../src/tokens.js'

declare module '@fastify/jwt' {
  interface FastifyJWT {
    payload: AccessTokenPayload
    user: AccessTokenClaims
  }
}

declare module 'fastify' {
  interface FastifyInstance {
    // Routes that need a user list it in onRequest.
    authenticate: (request: FastifyRequest, reply: FastifyReply) => Promise<void>
  }
}

// RFC 6750 §3: a challenge on every 401, and error="invalid_token" when a token was sent.
const CHALLENGE = 'Bearer realm="auth-service"'
const INVALID_TOKEN_CHALLENGE = CHALLENGE + ', error="invalid_token"'

export default fp(async function jwt (fastify) {
  const config = fastify.config
  const key = await loadSigningKey(fastify.store.signingKeys, config.JWT_SECRET)

  await fastify.register(fastifyJwt, {
    secret: key.secret,
    sign: {
      algorithm: key.alg,
      kid: key.kid,
      iss: config.JWT_ISSUER,
      aud: config.JWT_AUDIENCE,
      expiresIn: config.ACCESS_TOKEN_TTL // seconds: @fastify/jwt converts numbers from seconds
    },
    verify: {
      algorithms: [key.alg], // pinned: never taken from the token's header
      allowedIss: config.JWT_ISSUER,
      allowedAud: config.JWT_AUDIENCE,
      requiredClaims: REQUIRED_CLAIMS
    }
  })

  // The hot path: runs before every protected route.
  fastify.decorate('authenticate', async function authenticate (request: FastifyRequest, reply: FastifyReply) {
    if (request.headers.authorization === undefined) {
      reply.header('www-authenticate', CHALLENGE)
      throw new HttpError(401, 'Missing bearer token')
    }
    try {
      await request.jwtVerify()
    } catch {
      // Whatever fast-jwt or @fastify/jwt disliked (format, signature, algorithm, claims, expiry), the
      // client learns only that the token is not acceptable.
      reply.header('www-authenticate', INVALID_TOKEN_CHALLENGE)
      throw new HttpError(401, 'Invalid or expired token')
    }
  })
}, { name: 'jwt', dependencies: ['env', 'store'] })
