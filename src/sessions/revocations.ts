// Session ids whose access tokens must be refused although their signature and expiry are fine. Kept in
// memory so that the authenticate hook answers with a Map look-up and no store query; an entry is kept
// until the last access token of that session has expired (its own exp, plus the clock tolerance).
export class RevocationList {
  readonly #until = new Map<string, number>() // session id → epoch ms after which the entry is moot

  has (sessionId: string): boolean {
    return this.#until.has(sessionId)
  }

  add (sessionId: string, untilMs: number): void {
    if ((this.#until.get(sessionId) ?? 0) < untilMs) this.#until.set(sessionId, untilMs)
  }

  prune (nowMs: number): void {
    for (const [id, until] of this.#until) if (until <= nowMs) this.#until.delete(id)
  }
}
