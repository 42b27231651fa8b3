import type { Selectable } from 'kysely'
import type { ChangeLog } from './change-log.js'
import type { Db } from './database.js'
import type { SessionsTable } from './schema.js'

export interface Session {
  id: string
  userId: string
  createdAt: string
  lastUsedAt: string
  expiresAt: string
  userAgent: string | null
  ip: string | null
  revokedAt: string | null
  credentialsVersion: number
  accessExpiresAt: string | null // exp of the last access token issued for it
}

export interface RefreshTokenRecord {
  tokenHash: string
  sessionId: string
  expiresAt: string
  spentAt: string | null
}

// A revoked session, and until when an access token of it could still be presented.
export interface Revoked { id: string, accessExpiresAt: string | null }

// What a refresh writes: the session's new expiry and the exp of the access token it is about to issue.
export interface Extension { sessionId: string, now: string, expiresAt: string, accessExpiresAt: string }

export type RotateOutcome = 'rotated' | 'raced' | 'refused'

function toSession (row: Selectable<SessionsTable>): Session {
  return {
    id: row.id,
    userId: row.user_id,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
    expiresAt: row.expires_at,
    userAgent: row.user_agent,
    ip: row.ip,
    revokedAt: row.revoked_at,
    credentialsVersion: Number(row.credentials_version),
    accessExpiresAt: row.access_expires_at
  }
}

// Thrown inside a transaction to roll it back.
class Refused extends Error {}

// Sessions and their refresh tokens as rows. Timestamps are ISO 8601 in UTC, which sort as text.
export class SessionStore {
  readonly #db: Db
  readonly #changes: ChangeLog
  constructor (db: Db, changes: ChangeLog) {
    this.#db = db
    this.#changes = changes
  }

  // Creates the session and its first refresh token, only if the user's credentials are still those that
  // were checked (same version, not disabled). The guard is an update of the user's row, so that it takes
  // the row's write lock in every database: a credential change either commits first (and the guard
  // fails) or waits for this session to exist (and revokes it). False: nothing was written.
  async create (session: Omit<Session, 'revokedAt'> & { accessExpiresAt: string }, refresh: { tokenHash: string, expiresAt: string }): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      const guard = await trx.updateTable('users').set({ last_login_at: session.createdAt })
        .where('id', '=', session.userId).where('credentials_version', '=', session.credentialsVersion).where('disabled', '=', 0)
        .executeTakeFirst()
      if (Number(guard.numUpdatedRows) !== 1) return false
      await trx.insertInto('sessions').values({
        id: session.id,
        user_id: session.userId,
        created_at: session.createdAt,
        last_used_at: session.lastUsedAt,
        expires_at: session.expiresAt,
        user_agent: session.userAgent,
        ip: session.ip,
        credentials_version: session.credentialsVersion,
        access_expires_at: session.accessExpiresAt
      }).execute()
      await trx.insertInto('refresh_tokens').values({
        token_hash: refresh.tokenHash, session_id: session.id, created_at: session.createdAt, expires_at: refresh.expiresAt
      }).execute()
      return true
    })
  }

  async find (id: string): Promise<Session | undefined> {
    const row = await this.#db.selectFrom('sessions').selectAll().where('id', '=', id).executeTakeFirst()
    return row && toSession(row)
  }

  async findRefreshToken (tokenHash: string): Promise<RefreshTokenRecord | undefined> {
    const row = await this.#db.selectFrom('refresh_tokens').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst()
    return row && { tokenHash: row.token_hash, sessionId: row.session_id, expiresAt: row.expires_at, spentAt: row.spent_at }
  }

  // Spends `spent` and records its successor, extending the session, all or nothing:
  // - 'raced': `spent` had been spent already (another request won); nothing written;
  // - 'refused': the session was revoked, or its user's credentials changed or the user was disabled since
  //   it started; nothing written;
  // - 'rotated': done.
  async rotate (spent: string, successor: { tokenHash: string, expiresAt: string }, extension: Extension): Promise<RotateOutcome> {
    try {
      return await this.#db.transaction().execute(async (trx) => {
        const result = await trx.updateTable('refresh_tokens').set({ spent_at: extension.now })
          .where('token_hash', '=', spent).where('spent_at', 'is', null).executeTakeFirst()
        if (Number(result.numUpdatedRows) !== 1) return 'raced' as const
        if (!await extend(trx, extension)) throw new Refused()
        await trx.insertInto('refresh_tokens').values({
          token_hash: successor.tokenHash, session_id: extension.sessionId, created_at: extension.now, expires_at: successor.expiresAt
        }).execute()
        return 'rotated' as const
      })
    } catch (err) {
      if (err instanceof Refused) return 'refused'
      throw err
    }
  }

  // Extends a session that is still current (not revoked, its user's credentials unchanged, not disabled).
  async extend (extension: Extension): Promise<boolean> {
    return extend(this.#db, extension)
  }

  // Revokes the given sessions (those not revoked already) and returns them; the change log records them
  // in the same transaction.
  async revoke (filter: { sessionId?: string, userId?: string }, reason: string, now: string): Promise<Revoked[]> {
    const revoked = await this.#db.transaction().execute(async (trx) => {
      let query = trx.updateTable('sessions').set({ revoked_at: now, revoked_reason: reason }).where('revoked_at', 'is', null)
      if (filter.sessionId !== undefined) query = query.where('id', '=', filter.sessionId)
      if (filter.userId !== undefined) query = query.where('user_id', '=', filter.userId)
      const rows = await query.returning(['id', 'access_expires_at']).execute()
      const revoked = rows.map((r) => ({ id: r.id, accessExpiresAt: r.access_expires_at }))
      await this.#changes.record(trx, revocationChanges(revoked), now)
      return revoked
    })
    if (revoked.length > 0) this.#changes.committed()
    return revoked
  }

  // The user's sessions that are neither revoked nor expired, newest first; every user's without userId.
  async listActive (userId: string | undefined, now: string): Promise<Session[]> {
    let query = this.#db.selectFrom('sessions').selectAll().where('revoked_at', 'is', null).where('expires_at', '>', now)
    if (userId !== undefined) query = query.where('user_id', '=', userId)
    const rows = await query.orderBy('created_at', 'desc').orderBy('id').execute()
    return rows.map(toSession)
  }

  // Sessions that are live at `now`: neither revoked nor expired (for the metrics, at scrape time).
  async countLive (now: string): Promise<number> {
    const row = await this.#db.selectFrom('sessions').select((eb) => eb.fn.countAll().as('count'))
      .where('revoked_at', 'is', null).where('expires_at', '>', now).executeTakeFirstOrThrow()
    return Number(row.count)
  }

  // Revoked sessions whose access tokens may still be presented (exp after `liveAfter`): what the
  // in-memory revocation list loads (later revocations arrive through the change log).
  async revoked (liveAfter: string): Promise<Revoked[]> {
    const rows = await this.#db.selectFrom('sessions').select(['id', 'access_expires_at'])
      .where('revoked_at', 'is not', null).where('access_expires_at', '>', liveAfter).execute()
    return rows.map((r) => ({ id: r.id, accessExpiresAt: r.access_expires_at }))
  }

  // Deletes refresh tokens past their own expiry (spent ones are kept until then, so that their reuse is
  // recognised for as long as they could have been used), and sessions that ended (revoked or expired)
  // whose last access token expired before `accessExpiredBefore`.
  async purge (now: string, accessExpiredBefore: string): Promise<{ refreshTokens: number, sessions: number }> {
    return this.#db.transaction().execute(async (trx) => {
      const tokens = await trx.deleteFrom('refresh_tokens').where('expires_at', '<=', now).executeTakeFirst()
      const sessions = await trx.deleteFrom('sessions')
        .where((eb) => eb.or([eb('revoked_at', 'is not', null), eb('expires_at', '<=', now)]))
        .where('access_expires_at', '<', accessExpiredBefore)
        .executeTakeFirst()
      return { refreshTokens: Number(tokens.numDeletedRows), sessions: Number(sessions.numDeletedRows) }
    })
  }
}

export const revocationChanges = (revoked: Revoked[]) =>
  revoked.map((r) => ({ kind: 'session-revoked' as const, subject: r.id, until: r.accessExpiresAt }))

async function extend (db: Db, e: Extension): Promise<boolean> {
  const result = await db.updateTable('sessions')
    .set({ last_used_at: e.now, expires_at: e.expiresAt, access_expires_at: e.accessExpiresAt })
    .where('id', '=', e.sessionId).where('revoked_at', 'is', null)
    .where((eb) => eb('credentials_version', '=', eb.selectFrom('users').select('users.credentials_version')
      .whereRef('users.id', '=', 'sessions.user_id').where('users.disabled', '=', 0)))
    .executeTakeFirst()
  return Number(result.numUpdatedRows) === 1
}
