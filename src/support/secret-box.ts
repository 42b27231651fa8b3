import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto'

// Encryption at rest for the secrets the service keeps in its store (private signing keys, the refresh
// token successor key, and later secrets such as second-factor seeds): AES-256-GCM under a key derived
// (HKDF-SHA256) from KEY_ENCRYPTION_KEY, which lives outside the database. Each value is bound to its
// row (`context`, e.g. the key's kid), so a ciphertext cannot be moved to another row. Stored form:
// `enc:v1:` + base64url(12-byte IV ‖ ciphertext ‖ 16-byte tag). Without KEY_ENCRYPTION_KEY, values are
// stored as they are (and the files' 0600 modes are the protection).
const PREFIX = 'enc:v1:'

class SecretBoxError extends Error {}

export class SecretBox {
  readonly #key?: Buffer

  constructor (secret?: string) {
    if (secret !== undefined) this.#key = Buffer.from(hkdfSync('sha256', secret, 'auth-service', 'secrets at rest v1', 32))
  }

  get keyed (): boolean {
    return this.#key !== undefined
  }

  static isSealed (stored: string): boolean {
    return stored.startsWith(PREFIX)
  }

  seal (plain: string, context: string): string {
    if (this.#key === undefined) return plain
    const iv = randomBytes(12)
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv).setAAD(Buffer.from(context))
    const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()])
    return PREFIX + Buffer.concat([iv, body, cipher.getAuthTag()]).toString('base64url')
  }

  // The plain value of a stored one; `what` names it in errors ("the signing keys").
  open (stored: string, context: string, what: string): string {
    if (!SecretBox.isSealed(stored)) return stored
    if (this.#key === undefined) throw new SecretBoxError(`env/KEY_ENCRYPTION_KEY is required: ${what} in the store are encrypted`)
    const raw = Buffer.from(stored.slice(PREFIX.length), 'base64url')
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, raw.subarray(0, 12)).setAAD(Buffer.from(context))
      decipher.setAuthTag(raw.subarray(raw.length - 16))
      return Buffer.concat([decipher.update(raw.subarray(12, raw.length - 16)), decipher.final()]).toString('utf8')
    } catch {
      throw new SecretBoxError(`env/KEY_ENCRYPTION_KEY does not decrypt ${what} in the store (a different key?)`)
    }
  }
}
