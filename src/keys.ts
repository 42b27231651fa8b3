import { randomBytes, randomUUID } from 'node:crypto'
import type { SigningKeyStore } from './store/signing-keys.js'

export const SIGNING_ALGORITHM = 'HS256'

export interface SigningKey {
  kid: string
  alg: typeof SIGNING_ALGORITHM
  secret: Buffer
}

// The key that signs and verifies access tokens. A configured shared secret wins (for deployments where
// other services verify with the same secret); otherwise a 256-bit random key is generated at first start
// and kept in the store, so tokens survive restarts and every instance on the database agrees.
export async function loadSigningKey (keys: SigningKeyStore, sharedSecret?: string): Promise<SigningKey> {
  if (sharedSecret !== undefined) {
    return { kid: 'shared-secret', alg: SIGNING_ALGORITHM, secret: Buffer.from(sharedSecret, 'utf8') }
  }
  let row = await keys.first(SIGNING_ALGORITHM)
  if (!row) {
    await keys.insert({
      kid: randomUUID(),
      alg: SIGNING_ALGORITHM,
      private_key: randomBytes(32).toString('base64url'),
      public_key: null,
      created_at: new Date().toISOString()
    })
    row = await keys.first(SIGNING_ALGORITHM)
    if (!row) throw new Error('signing key was not stored')
  }
  return { kid: row.kid, alg: SIGNING_ALGORITHM, secret: Buffer.from(row.private_key, 'base64url') }
}
