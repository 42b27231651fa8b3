// Session ids whose access tokens must be refused although their signature and expiry are fine. Kept in
// memory so that the authenticate hook answers with a Map look-up and no store query; an entry is
// kept only as long as an access token of that session could still be unexpired.
export class RevocationList {
  readonly #until = new Map<string, number>() // session id → epoch ms after which the entry is moot
  readonly #lifetimeMs: number

  // `accessTokenLifetimeSeconds`: how long after signing an access token can be accepted (TTL + tolerance).
  constructor (accessTokenLifetimeSeconds: number) {
    this.#lifetimeMs = accessTokenLifetimeSeconds * 1000
  }

  has (sessionId: string): boolean {
    return this.#until.has(sessionId)
  }

  add (sessionId: string, revokedAtMs: number): void {
    this.#until.set(sessionId, revokedAtMs + this.#lifetimeMs)
  }

  // The oldest revocation that can still matter: what to load from the store at start.
  horizon (nowMs: number): number {
    return nowMs - this.#lifetimeMs
  }

  prune (nowMs: number): void {
    for (const [id, until] of this.#until) if (until <= nowMs) this.#until.delete(id)
  }
}
