import type { Selectable } from 'kysely'
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
}

export interface RefreshTokenRecord {
  tokenHash: string
  sessionId: string
  expiresAt: string
  spentAt: string | null
}

function toSession (row: Selectable<SessionsTable>): Session {
  return {
    id: row.id,
    userId: row.user_id,
    createdAt: row.created_at,
    lastUsedAt: row.last_used_at,
    expiresAt: row.expires_at,
    userAgent: row.user_agent,
    ip: row.ip,
    revokedAt: row.revoked_at
  }
}

// Sessions and their refresh tokens as rows. Timestamps are ISO 8601 in UTC, which sort as text.
export class SessionStore {
  readonly #db: Db
  constructor (db: Db) { this.#db = db }

  async create (session: Omit<Session, 'revokedAt'>, refresh: { tokenHash: string, expiresAt: string }): Promise<void> {
    await this.#db.transaction().execute(async (trx) => {
      await trx.insertInto('sessions').values({
        id: session.id,
        user_id: session.userId,
        created_at: session.createdAt,
        last_used_at: session.lastUsedAt,
        expires_at: session.expiresAt,
        user_agent: session.userAgent,
        ip: session.ip
      }).execute()
      await trx.insertInto('refresh_tokens').values({
        token_hash: refresh.tokenHash, session_id: session.id, created_at: session.createdAt, expires_at: refresh.expiresAt
      }).execute()
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

  // Spends `spent` (unless it is null: a sibling issued in the reuse grace window) and records its successor,
  // extending the session, all or nothing. False when `spent` had been spent already: another request won.
  async rotate (spent: string | null, next: { tokenHash: string, sessionId: string, expiresAt: string }, now: string): Promise<boolean> {
    return this.#db.transaction().execute(async (trx) => {
      if (spent !== null) {
        const result = await trx.updateTable('refresh_tokens').set({ spent_at: now })
          .where('token_hash', '=', spent).where('spent_at', 'is', null).executeTakeFirst()
        if (Number(result.numUpdatedRows) !== 1) return false
      }
      await trx.insertInto('refresh_tokens').values({
        token_hash: next.tokenHash, session_id: next.sessionId, created_at: now, expires_at: next.expiresAt
      }).execute()
      await trx.updateTable('sessions').set({ last_used_at: now, expires_at: next.expiresAt }).where('id', '=', next.sessionId).execute()
      return true
    })
  }

  // Revokes the given sessions (those not revoked already) and returns the ids it revoked.
  async revoke (filter: { sessionId?: string, userId?: string, exceptSessionId?: string }, reason: string, now: string): Promise<string[]> {
    let query = this.#db.updateTable('sessions').set({ revoked_at: now, revoked_reason: reason }).where('revoked_at', 'is', null)
    if (filter.sessionId !== undefined) query = query.where('id', '=', filter.sessionId)
    if (filter.userId !== undefined) query = query.where('user_id', '=', filter.userId)
    if (filter.exceptSessionId !== undefined) query = query.where('id', '!=', filter.exceptSessionId)
    const rows = await query.returning('id').execute()
    return rows.map((r) => r.id)
  }

  async listActive (userId: string, now: string): Promise<Session[]> {
    const rows = await this.#db.selectFrom('sessions').selectAll()
      .where('user_id', '=', userId).where('revoked_at', 'is', null).where('expires_at', '>', now)
      .orderBy('created_at', 'desc').execute()
    return rows.map(toSession)
  }

  // Sessions revoked since `since`, with when: what the in-memory revocation list needs.
  async revokedSince (since: string): Promise<Array<{ id: string, revokedAt: string }>> {
    const rows = await this.#db.selectFrom('sessions').select(['id', 'revoked_at']).where('revoked_at', '>', since).execute()
    return rows.map((r) => ({ id: r.id, revokedAt: r.revoked_at! }))
  }

  // Deletes refresh tokens that can no longer be used, and sessions that ended before `sessionsBefore`
  // (expired, or revoked long enough ago that no access token of theirs is still valid).
  async purge (now: string, spentBefore: string, sessionsBefore: string): Promise<{ refreshTokens: number, sessions: number }> {
    return this.#db.transaction().execute(async (trx) => {
      const tokens = await trx.deleteFrom('refresh_tokens')
        .where((eb) => eb.or([eb('expires_at', '<=', now), eb('spent_at', '<', spentBefore)])).executeTakeFirst()
      const sessions = await trx.deleteFrom('sessions')
        .where((eb) => eb.or([eb('expires_at', '<', sessionsBefore), eb('revoked_at', '<', sessionsBefore)])).executeTakeFirst()
      return { refreshTokens: Number(tokens.numDeletedRows), sessions: Number(sessions.numDeletedRows) }
    })
  }
}
