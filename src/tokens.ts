import { randomUUID } from 'node:crypto'
import type { User } from './store/users.js'

// What we put in an access token; iat, exp, iss and aud are added by the signer from configuration.
export interface AccessTokenPayload {
  sub: string
  username: string
  jti: string
}

// What a verified access token carries.
export interface AccessTokenClaims extends AccessTokenPayload {
  iat: number
  exp: number
  iss: string
  aud: string
}

export const REQUIRED_CLAIMS = ['sub', 'username', 'jti', 'iat', 'exp', 'iss', 'aud']

export function accessTokenPayload (user: Pick<User, 'id' | 'username'>): AccessTokenPayload {
  return { sub: user.id, username: user.username, jti: randomUUID() }
}
