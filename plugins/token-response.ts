import type { Static } from '@sinclair/typebox'
import fp from 'fastify-plugin'
import type { SigningKey } from '../src/tokens/key-ring.js'
import type { TokenResponse } from '../src/http/schemas.js'
import type { Issued } from '../src/sessions/sessions.js'
import type { User } from '../src/store/users.js'
import { accessTokenPayload, createAccessTokenSigner } from '../src/tokens/access-tokens.js'

declare module 'fastify' {
  interface FastifyInstance {
    // The body of a successful login or refresh: a new access token for the session, and its refresh token.
    tokenResponse: (user: User, issued: Issued) => Static<typeof TokenResponse>
  }
}

// Signs access tokens with whichever key is active now, so a rotation takes over without a restart. The
// session decided the token's iat and exp (and recorded exp, for revocation).
export default fp(async function tokenResponse (fastify) {
  const config = fastify.config
  const keys = fastify.keys
  const signers = new Map<string, (payload: object) => string>()
  const signerFor = (key: SigningKey) => {
    let sign = signers.get(key.kid)
    if (!sign) {
      sign = createAccessTokenSigner(key, { issuer: config.JWT_ISSUER, audience: config.JWT_AUDIENCE })
      signers.set(key.kid, sign)
    }
    return sign
  }

  fastify.decorate('tokenResponse', function tokenResponse (user: User, issued: Issued) {
    return {
      token: signerFor(keys.signing())({ ...accessTokenPayload(user, issued.sessionId), iat: issued.iat, exp: issued.exp }),
      tokenType: 'Bearer' as const,
      expiresIn: issued.exp - issued.iat,
      refreshToken: issued.refreshToken,
      refreshExpiresIn: issued.refreshExpiresIn
    }
  })
}, { name: 'token-response', dependencies: ['env', 'services'] })
