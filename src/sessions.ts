import { createHash, randomBytes, randomUUID } from 'node:crypto'
import type { RevocationList } from './revocations.js'
import type { Session, SessionStore } from './store/sessions.js'
import type { User, UserStore } from './store/users.js'

export interface SessionSettings {
  refreshTokenTtlSeconds: number
  reuseGraceSeconds: number
  accessTokenLifetimeSeconds: number // ACCESS_TOKEN_TTL + JWT_CLOCK_TOLERANCE
}

export interface ClientInfo { userAgent?: string, ip?: string }

export interface IssuedRefreshToken { sessionId: string, refreshToken: string, refreshExpiresIn: number }

export type RefreshOutcome =
  | { ok: true, user: User } & IssuedRefreshToken
  | { ok: false, reuse?: { sessionId: string, userId: string } }

// Refresh tokens are opaque: 256 bits from the CSPRNG, with a prefix that says what they are (and that
// secret scanners can match). Only their SHA-256 is stored; with 256 bits of entropy a salt adds nothing.
const REFRESH_PREFIX = 'rt_'
const hashRefreshToken = (token: string) => createHash('sha256').update(token).digest('hex')
const iso = (ms: number) => new Date(ms).toISOString()

// Sessions: created at login, extended by refresh-token rotation, ended by logout, revocation or expiry.
export class Sessions {
  readonly #store: SessionStore
  readonly #users: UserStore
  readonly #revocations: RevocationList
  readonly #settings: SessionSettings
  readonly #now: () => number

  constructor (store: SessionStore, users: UserStore, revocations: RevocationList, settings: SessionSettings, now = () => Date.now()) {
    this.#store = store
    this.#users = users
    this.#revocations = revocations
    this.#settings = settings
    this.#now = now
  }

  async start (user: User, client: ClientInfo): Promise<IssuedRefreshToken> {
    const now = this.#now()
    const sessionId = randomUUID()
    const { token, tokenHash, expiresAt } = this.#newRefreshToken(now)
    await this.#store.create({
      id: sessionId,
      userId: user.id,
      createdAt: iso(now),
      lastUsedAt: iso(now),
      expiresAt,
      userAgent: client.userAgent?.slice(0, 512) ?? null,
      ip: client.ip ?? null
    }, { tokenHash, expiresAt })
    return { sessionId, refreshToken: token, refreshExpiresIn: this.#settings.refreshTokenTtlSeconds }
  }

  // Exchanges a refresh token for its successor. A token spent more than the grace window ago is reuse:
  // somebody kept a copy, so the whole session is revoked. Inside the window (two requests of one client
  // racing) the late request gets a sibling token instead, and both clients carry on.
  async refresh (refreshToken: string): Promise<RefreshOutcome> {
    if (!refreshToken.startsWith(REFRESH_PREFIX)) return { ok: false }
    const record = await this.#store.findRefreshToken(hashRefreshToken(refreshToken))
    if (!record) return { ok: false }
    const session = await this.#store.find(record.sessionId)
    const now = this.#now()
    if (!session || session.revokedAt !== null || Date.parse(record.expiresAt) <= now) return { ok: false }
    const user = await this.#users.findById(session.userId)
    if (!user || user.disabled) return { ok: false }

    let spend: string | null = record.tokenHash
    if (record.spentAt !== null) {
      if (now - Date.parse(record.spentAt) > this.#settings.reuseGraceSeconds * 1000) {
        await this.revoke({ sessionId: session.id }, 'refresh-token-reuse')
        return { ok: false, reuse: { sessionId: session.id, userId: user.id } }
      }
      spend = null
    }
    const next = this.#newRefreshToken(now)
    const successor = { tokenHash: next.tokenHash, sessionId: session.id, expiresAt: next.expiresAt }
    // Losing the race to spend it between our read and our write means it was spent just now, inside the
    // window: a sibling then.
    if (!await this.#store.rotate(spend, successor, iso(now))) await this.#store.rotate(null, successor, iso(now))
    return { ok: true, user, sessionId: session.id, refreshToken: next.token, refreshExpiresIn: this.#settings.refreshTokenTtlSeconds }
  }

  // Revokes sessions in the store and, at once, in this process's revocation list.
  async revoke (filter: { sessionId?: string, userId?: string, exceptSessionId?: string }, reason: string): Promise<string[]> {
    const now = this.#now()
    const ids = await this.#store.revoke(filter, reason, iso(now))
    for (const id of ids) this.#revocations.add(id, now)
    return ids
  }

  find (sessionId: string): Promise<Session | undefined> {
    return this.#store.find(sessionId)
  }

  listActive (userId: string): Promise<Session[]> {
    return this.#store.listActive(userId, iso(this.#now()))
  }

  // Brings the revocation list up to date with revocations made by other processes (the CLI, other
  // instances) since `sinceMs`, and drops entries that no longer matter. Returns the time to ask from next.
  async syncRevocations (sinceMs: number): Promise<number> {
    const now = this.#now()
    const from = Math.max(sinceMs, this.#revocations.horizon(now))
    for (const { id, revokedAt } of await this.#store.revokedSince(iso(from))) this.#revocations.add(id, Date.parse(revokedAt))
    this.#revocations.prune(now)
    return now - 1000 // overlap a little: another process's clock or transaction may lag
  }

  // Deletes what can no longer be used, so the tables do not grow without bound.
  purge (): Promise<{ refreshTokens: number, sessions: number }> {
    const now = this.#now()
    const { reuseGraceSeconds, accessTokenLifetimeSeconds } = this.#settings
    return this.#store.purge(iso(now), iso(now - reuseGraceSeconds * 1000), iso(now - accessTokenLifetimeSeconds * 1000))
  }

  #newRefreshToken (now: number) {
    const token = REFRESH_PREFIX + randomBytes(32).toString('base64url')
    return { token, tokenHash: hashRefreshToken(token), expiresAt: iso(now + this.#settings.refreshTokenTtlSeconds * 1000) }
  }
}
