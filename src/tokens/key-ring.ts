import { createPublicKey, generateKeyPairSync, randomUUID, type webcrypto } from 'node:crypto'
import { SecretBox } from '../support/secret-box.js'
import type { SigningKeyRow, SigningKeyStore } from '../store/signing-keys.js'

export type SigningAlgorithm = 'ES256' | 'EdDSA' | 'RS256' | 'HS256'
export type KeyState = 'pending' | 'active' | 'verifying' | 'retired'

export interface SigningKey {
  kid: string
  alg: SigningAlgorithm
  privateKey: string | Buffer // PEM (PKCS#8), or the shared secret
  publicKey: string | Buffer // PEM (SPKI), or the shared secret
  activatesAt: number // epoch ms
  lowS: boolean // ES256: only low-S signatures are accepted (keys made since low-S signing)
}

export interface KeyRingSettings {
  algorithm: SigningAlgorithm
  sharedSecret?: string
  publishDelaySeconds: number
  accessTokenLifetimeSeconds: number // ACCESS_TOKEN_TTL + JWT_CLOCK_TOLERANCE
}

function generateKeyPair (alg: Exclude<SigningAlgorithm, 'HS256'>): { privateKey: string, publicKey: string } {
  const pair = alg === 'ES256'
    ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
    : alg === 'EdDSA' ? generateKeyPairSync('ed25519') : generateKeyPairSync('rsa', { modulusLength: 2048 })
  return {
    privateKey: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKey: pair.publicKey.export({ type: 'spki', format: 'pem' }).toString()
  }
}

const toKey = (row: SigningKeyRow, privateKey: string): SigningKey => ({
  kid: row.kid,
  alg: row.alg as SigningAlgorithm,
  privateKey,
  publicKey: row.public_key!,
  activatesAt: Date.parse(row.activates_at ?? row.created_at),
  lowS: Number(row.low_s) === 1
})

// The service's signing keys and their lifecycle, derived from activation times alone:
// - pending: published in JWKS, not signing yet (so consumers' caches have it before any token needs it);
// - active: the newest key whose activation time has come; it signs;
// - verifying: superseded, still published and accepted until the last token it signed has expired;
// - retired: gone from JWKS and refused.
// Private keys live in the store and are used only to sign. With a shared secret (HS256) there is one
// key, never published and never rotated.
export class KeyRing {
  readonly #store: SigningKeyStore
  readonly #settings: KeyRingSettings
  readonly #now: () => number
  readonly #box: SecretBox
  #keys: SigningKey[] = []

  // `box` encrypts private keys at rest when KEY_ENCRYPTION_KEY is set.
  constructor (store: SigningKeyStore, settings: KeyRingSettings, now = () => Date.now(), box = new SecretBox()) {
    this.#store = store
    this.#settings = settings
    this.#now = now
    this.#box = box
  }

  get shared (): boolean {
    return this.#settings.sharedSecret !== undefined
  }

  // Reads the keys from the store (rotations by the CLI or other instances), creating the first one if
  // there is none: active at once, since no consumer can hold a token of ours yet.
  async refresh (): Promise<void> {
    const { sharedSecret, algorithm } = this.#settings
    if (sharedSecret !== undefined) {
      const secret = Buffer.from(sharedSecret, 'utf8')
      this.#keys = [{ kid: 'shared-secret', alg: 'HS256', privateKey: secret, publicKey: secret, activatesAt: 0, lowS: false }]
      return
    }
    let rows = await this.#store.all(algorithm)
    if (rows.length === 0) {
      await this.#insert(this.#now(), '')
      rows = await this.#store.all(algorithm)
    }
    const keys = []
    for (const row of rows) keys.push(toKey(row, await this.#privateKey(row)))
    this.#keys = keys.sort((a, b) => a.activatesAt - b.activatesAt || (a.kid < b.kid ? -1 : 1))
  }

  // The PEM of a row's private key. With KEY_ENCRYPTION_KEY, a key stored in the clear (made before the
  // variable was set) is encrypted in place.
  async #privateKey (row: SigningKeyRow): Promise<string> {
    const pem = this.#box.open(row.private_key, row.kid, 'the signing keys')
    if (this.#box.keyed && !SecretBox.isSealed(row.private_key)) await this.#store.setPrivateKey(row.kid, this.#box.seal(pem, row.kid))
    return pem
  }

  // A new key, published now and signing after KEY_PUBLISH_DELAY. No restart, nobody logged out.
  async rotate (): Promise<SigningKey> {
    if (this.shared) throw new Error('a shared JWT_SECRET cannot be rotated by the service')
    const kid = await this.#insert(this.#now() + this.#settings.publishDelaySeconds * 1000)
    await this.refresh()
    return this.#keys.find((k) => k.kid === kid)!
  }

  // The scheduled rotation, when the newest key is `intervalSeconds` old: made by one of the instances that
  // find it due at once (the others find the new key there and make none). The new key, if this call made it.
  async rotateIfDue (intervalSeconds: number): Promise<SigningKey | undefined> {
    const newest = this.#keys.at(-1)
    if (newest === undefined || this.shared || newest.activatesAt + intervalSeconds * 1000 > this.#now()) return undefined
    const kid = await this.#insert(this.#now() + this.#settings.publishDelaySeconds * 1000, new Date(newest.activatesAt).toISOString())
    await this.refresh()
    return this.#keys.find((k) => k.kid === kid)
  }

  // Deletes retired keys from the store: a private key that can no longer sign or verify anything is only
  // a liability. Returns their kids.
  async purgeRetired (): Promise<string[]> {
    const retired = this.states().filter((k) => k.state === 'retired').map((k) => k.kid)
    await this.#store.delete(retired, new Date(this.#now()).toISOString())
    if (retired.length > 0) await this.refresh()
    return retired
  }

  states (): Array<SigningKey & { state: KeyState, retiresAt?: number }> {
    const now = this.#now()
    // The newest key whose time has come signs. If none has (a clock behind the one that made the first
    // key, on another instance or after the clock was stepped back), the oldest does: it is published
    // already, and refusing every login until the clocks agree would help nobody.
    const activeIndex = Math.max(0, this.#keys.findLastIndex((k) => k.activatesAt <= now))
    const lingerMs = this.#settings.accessTokenLifetimeSeconds * 1000
    return this.#keys.map((key, i) => {
      if (i > activeIndex) return { ...key, state: 'pending' as const }
      if (i === activeIndex) return { ...key, state: 'active' as const }
      const retiresAt = this.#keys[i + 1].activatesAt + lingerMs
      return { ...key, state: retiresAt > now ? 'verifying' as const : 'retired' as const, retiresAt }
    })
  }

  signing (): SigningKey {
    const active = this.states().find((k) => k.state === 'active')
    if (!active) throw new Error('no active signing key')
    return active
  }

  // The key a token names by its kid, if that key may verify now; never a key from the token itself.
  verifying (kid: unknown): SigningKey | undefined {
    if (typeof kid !== 'string') return undefined
    return this.states().find((k) => k.kid === kid && (k.state === 'active' || k.state === 'verifying'))
  }

  // The public keys of JWKS: pending, active and verifying ones.
  jwks (): { keys: webcrypto.JsonWebKey[] } {
    if (this.shared) return { keys: [] }
    return {
      keys: this.states().filter((k) => k.state !== 'retired').map((k) => ({
        ...createPublicKey(k.publicKey).export({ format: 'jwk' }), kid: k.kid, alg: k.alg, use: 'sig'
      }))
    }
  }

  async #insert (activatesAt: number, unlessActivatingAfter?: string): Promise<string> {
    const alg = this.#settings.algorithm as Exclude<SigningAlgorithm, 'HS256'>
    const { privateKey, publicKey } = generateKeyPair(alg)
    const kid = randomUUID()
    await this.#store.insert({
      kid, alg, private_key: this.#box.seal(privateKey, kid), public_key: publicKey, created_at: new Date(this.#now()).toISOString(), activates_at: new Date(activatesAt).toISOString(), low_s: 1
    }, unlessActivatingAfter)
    return kid
  }
}
