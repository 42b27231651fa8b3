import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'

const Jwk = Type.Object({
  kty: Type.String(),
  kid: Type.String(),
  alg: Type.String(),
  use: Type.Literal('sig'),
  crv: Type.Optional(Type.String()),
  x: Type.Optional(Type.String()),
  y: Type.Optional(Type.String()),
  n: Type.Optional(Type.String()),
  e: Type.Optional(Type.String())
})

// What other services need to verify our tokens without sharing a secret.
const wellKnown: FastifyPluginAsyncTypebox = async function (fastify) {
  const { JWT_ISSUER, JWT_ALGORITHM, KEY_PUBLISH_DELAY, PUBLIC_URL, PORT } = fastify.config
  // Published URLs come from configuration only, never from the request's Host header (which anyone can
  // set, and a shared cache would serve to everyone). Without PUBLIC_URL: localhost at the port the server
  // actually listens on (fastify-cli's -p may differ from PORT), or PORT before it listens.
  const configured = PUBLIC_URL?.replace(/\/$/, '')
  const base = () => {
    if (configured !== undefined) return configured
    const address = fastify.server.address()
    return `http://localhost:${address !== null && typeof address === 'object' ? address.port : PORT}`
  }
  // Consumers may cache the key set; a new key is published KEY_PUBLISH_DELAY before it signs, so caches
  // must expire well within that.
  const maxAge = Math.max(0, Math.min(300, Math.floor(KEY_PUBLISH_DELAY / 2)))

  // Before start-up has loaded the keys, an empty set would be cached by consumers: 503 instead.
  fastify.get('/.well-known/jwks.json', {
    onRequest: [fastify.requireStarted],
    schema: { summary: 'Public keys that verify our access tokens (RFC 7517)', tags: ['keys'], response: { 200: Type.Object({ keys: Type.Array(Jwk) }, { description: 'The JSON Web Key Set: every key that may verify a token now' }) } }
  }, async function (_request, reply) {
    reply.header('cache-control', `public, max-age=${maxAge}`)
    return fastify.keys.jwks() as { keys: Array<typeof Jwk.static> }
  })

  fastify.get('/.well-known/openid-configuration', {
    schema: {
      summary: 'Discovery document: issuer, JWKS URL, algorithms, endpoints',
      tags: ['keys'],
      response: {
        200: Type.Object({
          issuer: Type.String(),
          jwks_uri: Type.String(),
          token_endpoint: Type.String(),
          refresh_endpoint: Type.String(),
          revocation_endpoint: Type.String(),
          grant_types_supported: Type.Array(Type.String()),
          id_token_signing_alg_values_supported: Type.Array(Type.String())
        }, { description: 'The discovery document (after OpenID Connect Discovery 1.0)' })
      }
    }
  }, async function (_request, reply) {
    reply.header('cache-control', `public, max-age=${maxAge}`)
    const url = base()
    return {
      issuer: JWT_ISSUER,
      jwks_uri: `${url}/.well-known/jwks.json`,
      token_endpoint: `${url}/login`,
      refresh_endpoint: `${url}/token/refresh`,
      revocation_endpoint: `${url}/logout`,
      grant_types_supported: ['password', 'refresh_token'],
      id_token_signing_alg_values_supported: [JWT_ALGORITHM]
    }
  })
}

export default wellKnown
