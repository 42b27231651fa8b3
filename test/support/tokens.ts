import { createHmac, sign as cryptoSign } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import type { SigningKey } from '../../src/tokens/key-ring.js'
import { createAccessTokenSigner, lowS } from '../../src/tokens/access-tokens.js'

// Signs a token with the app's own signing key, so that tests can make tokens that are correctly signed
// but wrong in some other way (expired, another issuer, …).
export async function signWithAppKey (app: FastifyInstance, payload: Record<string, unknown>, options: Record<string, unknown> = {}) {
  const sign = createAccessTokenSigner(app.keys.signing(), { issuer: app.config.JWT_ISSUER, audience: app.config.JWT_AUDIENCE, ttlSeconds: 60 }, options)
  return sign({ jti: 'test-jti', roles: [], sid: 'test-session', ...payload })
}

// The signature of any signing input with one of our keys, by hand: for tokens no JWT library would make.
export function signInput (key: SigningKey, input: string): string {
  if (key.alg === 'HS256') return createHmac('sha256', key.privateKey).update(input).digest('base64url')
  const digest = key.alg === 'EdDSA' ? null : 'sha256'
  const signature = cryptoSign(digest, Buffer.from(input), { key: key.privateKey as string, dsaEncoding: 'ieee-p1363' }).toString('base64url')
  return key.alg === 'ES256' ? lowS(`${input}.${signature}`).split('.')[2] : signature // as the service signs
}

// The claims of a token, read without verifying it.
export function claimsOf<T = Record<string, unknown>> (token: string): T {
  return JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()) as T
}
