import { createHash, createHmac, randomBytes, randomUUID } from 'node:crypto'
import { DomainError } from '../errors.js'
import type { RevocationList } from './revocations.js'
import type { SecretStore } from '../store/secrets.js'
import type { Revoked, Session, SessionStore } from '../store/sessions.js'
import type { User, UserStore } from '../store/users.js'

export interface SessionSettings {
  refreshTokenTtlSeconds: number
  reuseGraceSeconds: number
  accessTokenTtlSeconds: number
  clockToleranceSeconds: number
}

export interface ClientInfo { userAgent?: string, ip?: string }

// What a login or a refresh issues: the refresh token, and the times of the access token to sign with it
// (recorded on the session, so that a revocation is kept exactly as long as that token can be presented).
export interface Issued {
  sessionId: string
  refreshToken: string
  refreshExpiresIn: number
  iat: number // seconds
  exp: number // seconds
}

export type RefreshOutcome =
  | { ok: true, user: User } & Issued
  | { ok: false, reuse?: { sessionId: string, userId: string } }

// Refresh tokens are opaque: 256 bits, with a prefix that says what they are (and that secret scanners can
// match). Only their SHA-256 is stored; with 256 bits of entropy a salt adds nothing. A login's refresh
// token comes from the CSPRNG; each successor is the HMAC of the token it replaces under a key of the
// service, so that requests racing to spend one token all compute, and get, the same successor.
const REFRESH_PREFIX = 'rt_'
const SUCCESSOR_KEY = 'refresh-token-successor'
const hashRefreshToken = (token: string) => createHash('sha256').update(token).digest('hex')
const iso = (ms: number) => new Date(ms).toISOString()

// Sessions: created at login, extended by refresh-token rotation, ended by logout, revocation or expiry.
export class Sessions {
  readonly #store: SessionStore
  readonly #users: UserStore
  readonly #secrets: SecretStore
  readonly #revocations: RevocationList
  readonly #settings: SessionSettings
  readonly #now: () => number
  #successorKey?: Promise<Buffer>

  constructor (store: SessionStore, users: UserStore, secrets: SecretStore, revocations: RevocationList, settings: SessionSettings, now = () => Date.now()) {
    this.#store = store
    this.#users = users
    this.#secrets = secrets
    this.#revocations = revocations
    this.#settings = settings
    this.#now = now
  }

  // A new session for a user just authenticated; undefined if the user's credentials changed (or the user
  // was disabled) since they were checked.
  async start (user: User, client: ClientInfo): Promise<Issued | undefined> {
    const now = this.#now()
    const sessionId = randomUUID()
    const token = REFRESH_PREFIX + randomBytes(32).toString('base64url')
    const access = this.#accessTimes(now)
    const expiresAt = this.#refreshExpiry(now)
    const created = await this.#store.create({
      id: sessionId,
      userId: user.id,
      createdAt: iso(now),
      lastUsedAt: iso(now),
      expiresAt,
      userAgent: client.userAgent?.slice(0, 512) ?? null,
      ip: client.ip ?? null,
      credentialsVersion: user.credentialsVersion,
      accessExpiresAt: iso(access.exp * 1000)
    }, { tokenHash: hashRefreshToken(token), expiresAt })
    return created ? this.#issued(sessionId, token, access) : undefined
  }

  // Exchanges a refresh token for its successor. Requests racing to spend one token inside the grace
  // window all get the same successor, so a session has one live refresh token. A token spent longer ago
  // than the window, or whose successor has been spent, is reuse: somebody kept a copy, so the whole
  // session is revoked.
  async refresh (refreshToken: string): Promise<RefreshOutcome> {
    if (!refreshToken.startsWith(REFRESH_PREFIX)) return { ok: false }
    let record = await this.#store.findRefreshToken(hashRefreshToken(refreshToken))
    if (!record) return { ok: false }
    const session = await this.#store.find(record.sessionId)
    const now = this.#now()
    if (!session || session.revokedAt !== null || Date.parse(record.expiresAt) <= now) return { ok: false }
    const user = await this.#users.findById(session.userId)
    if (!user || user.disabled || user.credentialsVersion !== session.credentialsVersion) return { ok: false }

    const successor = await this.#successorOf(refreshToken)
    const access = this.#accessTimes(now)
    const extension = { sessionId: session.id, now: iso(now), expiresAt: this.#refreshExpiry(now), accessExpiresAt: iso(access.exp * 1000) }
    if (record.spentAt === null) {
      const outcome = await this.#store.rotate(record.tokenHash, { tokenHash: hashRefreshToken(successor), expiresAt: extension.expiresAt }, extension)
      if (outcome === 'rotated') return { ok: true, user, ...this.#issued(session.id, successor, access) }
      if (outcome === 'refused') return { ok: false }
      record = await this.#store.findRefreshToken(record.tokenHash) // spent just now by a racing request
      if (!record?.spentAt) return { ok: false }
    }
    const next = await this.#store.findRefreshToken(hashRefreshToken(successor))
    const late = now - Date.parse(record.spentAt!) > this.#settings.reuseGraceSeconds * 1000
    if (late || next?.spentAt) return this.#reused(session, user)
    // A racer inside the window: the successor the winner got, if the session may still be extended.
    if (next === undefined || !await this.#store.extend(extension)) return { ok: false }
    return { ok: true, user, ...this.#issued(session.id, successor, access) }
  }

  // Revokes sessions in the store and, at once, in this process's revocation list.
  async revoke (filter: { sessionId?: string, userId?: string }, reason: string): Promise<string[]> {
    const revoked = await this.#store.revoke(filter, reason, iso(this.#now()))
    this.markRevoked(revoked)
    return revoked.map((r) => r.id)
  }

  // The user ends one of their own sessions. Another user's session is as unknown as one that never existed.
  async endOwn (userId: string, sessionId: string): Promise<void> {
    if ((await this.revoke({ sessionId, userId }, 'ended-by-user')).length === 0) throw new DomainError('not_found', 'No such session')
  }

  // Puts sessions revoked in the store (here, or by a credential change) into the revocation list, each
  // until the last access token it issued has expired.
  markRevoked (revoked: Revoked[]): void {
    const toleranceMs = this.#settings.clockToleranceSeconds * 1000
    for (const { id, accessExpiresAt } of revoked) {
      // A session without a recorded exp (none are left after migration 0004) is kept for a whole TTL.
      const until = accessExpiresAt === null ? this.#now() + this.#settings.accessTokenTtlSeconds * 1000 : Date.parse(accessExpiresAt)
      this.#revocations.add(id, until + toleranceMs)
    }
  }

  // Sessions of every user that are live now (not revoked, not expired), in the whole store.
  countLive (): Promise<number> {
    return this.#store.countLive(iso(this.#now()))
  }

  // One user's active sessions, or every user's (the CLI's `sessions list`).
  listActive (userId?: string): Promise<Session[]> {
    return this.#store.listActive(userId, iso(this.#now()))
  }

  // Loads into the revocation list every revoked session whose tokens can still be presented (at start, and
  // when this process may have missed changes), and drops entries that no longer matter. The changes made
  // since reach it through the change log (ChangeLogFollower).
  async loadRevocations (): Promise<void> {
    const now = this.#now()
    this.markRevoked(await this.#store.revoked(iso(now - this.#settings.clockToleranceSeconds * 1000)))
    this.#revocations.prune(now)
  }

  pruneRevocations (): void {
    this.#revocations.prune(this.#now())
  }

  // Deletes what can no longer be used, so the tables do not grow without bound. An ended session is kept
  // until its last access token has expired on every clock: this one may be ahead of another instance's by
  // up to the clock tolerance, and that instance accepts the token for the tolerance past its exp.
  purge (): Promise<{ refreshTokens: number, sessions: number }> {
    const now = this.#now()
    return this.#store.purge(iso(now), iso(now - 2 * this.#settings.clockToleranceSeconds * 1000))
  }

  async #reused (session: Session, user: User): Promise<RefreshOutcome> {
    await this.revoke({ sessionId: session.id }, 'refresh-token-reuse')
    return { ok: false, reuse: { sessionId: session.id, userId: user.id } }
  }

  // Loads (or makes) the key refresh-token successors are derived with; at start, so that a store whose
  // secrets cannot be read stops the start rather than the first refresh.
  async loadSecrets (): Promise<void> {
    await this.#successorKeyOnce()
  }

  #successorKeyOnce (): Promise<Buffer> {
    this.#successorKey ??= this.#secrets.getOrCreate(SUCCESSOR_KEY, () => randomBytes(32).toString('base64url'), iso(this.#now()))
      .then((value) => Buffer.from(value, 'base64url'))
      .catch((err) => { this.#successorKey = undefined; throw err })
    return this.#successorKey
  }

  async #successorOf (token: string): Promise<string> {
    return REFRESH_PREFIX + createHmac('sha256', await this.#successorKeyOnce()).update(token).digest('base64url')
  }

  #accessTimes (now: number) {
    const iat = Math.floor(now / 1000)
    return { iat, exp: iat + this.#settings.accessTokenTtlSeconds }
  }

  #refreshExpiry (now: number): string {
    return iso(now + this.#settings.refreshTokenTtlSeconds * 1000)
  }

  #issued (sessionId: string, refreshToken: string, access: { iat: number, exp: number }): Issued {
    return { sessionId, refreshToken, refreshExpiresIn: this.#settings.refreshTokenTtlSeconds, ...access }
  }
}
