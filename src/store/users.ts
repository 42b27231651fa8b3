import { sql, type Selectable } from 'kysely'
import { DomainError } from '../errors.js'
import type { ChangeLog } from './change-log.js'
import type { Db } from './database.js'
import { lockFor } from './dialect.js'
import { revocationChanges } from './sessions.js'
import type { UsersTable } from './schema.js'

export interface User {
  id: string
  username: string
  passwordHash: string
  passwordNormalized: boolean // the hash was made from the NFKC form of the password
  credentialsVersion: number
  disabled: boolean
  roles: string[]
  createdAt: string
}

// One answer whether the name is taken or only looks like one that is (its skeleton is taken): the client
// learns no more than it would from a taken name.
const USERNAME_TAKEN = 'Username is already taken or too similar to an existing one'
export class UsernameTakenError extends DomainError {
  constructor () {
    super('conflict', USERNAME_TAKEN)
  }
}

// The name itself is free, but another user's looks like it (the same UTS #39 skeleton). Answered as
// UsernameTakenError; the class lets the bootstrap tell "made meanwhile by another instance" from this.
export class UsernameTooSimilarError extends UsernameTakenError {}

// Disabling the last enabled administrator would leave nobody who can administer the service.
class LastAdminError extends DomainError {
  constructor (message = 'the last enabled admin cannot be disabled') {
    super('conflict', message)
  }
}

function toUser (row: Selectable<UsersTable>): User {
  return {
    id: row.id,
    username: row.username,
    passwordHash: row.password_hash,
    passwordNormalized: row.password_normalized !== 0,
    credentialsVersion: Number(row.credentials_version),
    disabled: row.disabled !== 0,
    roles: row.roles === '' ? [] : row.roles.split(','),
    createdAt: row.created_at
  }
}

function isUniqueViolation (err: unknown): boolean {
  const code = (err as { code?: string }).code
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === '23505'
}

const hasAdminRole = sql<boolean>`(',' || roles || ',') like '%,admin,%'`

// A user's own credential change whose session ended, or whose credentials changed (another change, a
// disable), while it was being made: refused, as the request would have been had it arrived a moment later.
export class StaleCredentialsError extends DomainError {
  constructor () {
    super('invalid_token', 'Invalid or expired token')
  }
}

// A change of credentials: a new password hash (from the NFKC form), or disabling the account.
export interface CredentialChange { passwordHash?: string, disabled?: true }

// Users as rows. `key` is the normalised, case-folded username that uniqueness and look-ups use.
export class UserStore {
  readonly #db: Db
  readonly #changes: ChangeLog
  constructor (db: Db, changes: ChangeLog) {
    this.#db = db
    this.#changes = changes
  }

  async findByKey (key: string): Promise<User | undefined> {
    const row = await this.#db.selectFrom('users').selectAll().where('username_key', '=', key).executeTakeFirst()
    return row && toUser(row)
  }

  async findById (id: string): Promise<User | undefined> {
    const row = await this.#db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst()
    return row && toUser(row)
  }

  // A new user, unless one with the same key (UsernameTakenError) or a look-alike name exists (the same
  // lower-case skeleton, or a cased skeleton meeting one of theirs: UsernameTooSimilarError). The check and
  // the insert are one transaction, and new users take turns: an advisory lock on PostgreSQL (at READ
  // COMMITTED two racers would each see no look-alike and both insert, no skeleton column being unique;
  // one lock for all, since look-alikes can meet through different keys, and users are made rarely); on
  // SQLite the transaction holds the write lock from its start (BEGIN IMMEDIATE).
  async insert (user: { id: string, username: string, key: string, skeleton: string, cased: { display: string, upper: string }, passwordHash: string, roles: string[] }, now: string): Promise<User> {
    const { skeleton, cased, key, ...fields } = user
    const shapes = [cased.display, cased.upper]
    try {
      await this.#db.transaction().execute(async (trx) => {
        await lockFor(trx, 'username:new')
        if (await trx.selectFrom('users').select('id').where('username_key', '=', key).executeTakeFirst()) throw new UsernameTakenError()
        const similar = await trx.selectFrom('users').select('id').where((eb) => eb.or([
          eb('username_skeleton', '=', skeleton),
          eb('username_skeleton_display', 'in', shapes),
          eb('username_skeleton_upper', 'in', shapes)
        ])).limit(1).executeTakeFirst()
        if (similar) throw new UsernameTooSimilarError()
        await trx.insertInto('users').values({
          id: user.id,
          username: user.username,
          username_key: key,
          username_skeleton: skeleton,
          username_skeleton_display: cased.display,
          username_skeleton_upper: cased.upper,
          password_hash: user.passwordHash,
          password_normalized: 1,
          roles: user.roles.join(','),
          created_at: now,
          updated_at: now
        }).execute()
      })
    } catch (err) {
      if (isUniqueViolation(err)) throw new UsernameTakenError()
      throw err
    }
    return { ...fields, passwordNormalized: true, credentialsVersion: 0, disabled: false, createdAt: now }
  }

  // A stronger hash of the same password (raised parameters, or the NFKC form), written only if the
  // credentials are still those that were checked: a password changed meanwhile is never overwritten.
  async rehash (id: string, checkedVersion: number, passwordHash: string, now: string): Promise<void> {
    await this.#db.updateTable('users').set({ password_hash: passwordHash, password_normalized: 1, updated_at: now })
      .where('id', '=', id).where('credentials_version', '=', checkedVersion).execute()
  }

  // Changes the credentials and, in the same transaction, moves the credentials version on and ends every
  // session started under the old version. A session can only be created or refreshed under the current
  // version (SessionStore), so no session started from the old state survives, however requests
  // interleave. A change made by the user themself (`by`) happens only if the credentials are still those
  // they proved (`checkedVersion`) and their session is still live: otherwise a change that was hashing
  // while the session was ended, or while another change or a disable landed, would undo it
  // (StaleCredentialsError). Their session is carried over to the new version. Returns the revoked
  // sessions, or undefined when there is no such user.
  async changeCredentials (id: string, change: CredentialChange, revoke: { reason: string, now: string, by?: { sessionId: string, checkedVersion: number } }):
  Promise<Array<{ id: string, accessExpiresAt: string | null }> | undefined> {
    const by = revoke.by
    const revoked = await this.#db.transaction().execute(async (trx) => {
      // Two admins disabled at once must not each see the other still enabled (PostgreSQL, READ COMMITTED).
      if (change.disabled) await lockFor(trx, 'admins')
      let update = trx.updateTable('users').set({
        ...(change.passwordHash !== undefined && { password_hash: change.passwordHash, password_normalized: 1 }),
        ...(change.disabled && { disabled: 1 }),
        credentials_version: sql`credentials_version + 1`,
        updated_at: revoke.now
      }).where('id', '=', id)
      if (change.disabled) {
        // Never the last enabled admin, decided in the same statement that disables.
        update = update.where((eb) => eb.or([
          eb.not(hasAdminRole),
          eb.exists(eb.selectFrom('users as other').select('other.id')
            .where('other.id', '!=', id).where('other.disabled', '=', 0).where(sql<boolean>`(',' || other.roles || ',') like '%,admin,%'`))
        ]))
      }
      if (by !== undefined) {
        update = update.where('credentials_version', '=', by.checkedVersion).where('disabled', '=', 0)
          .where((eb) => eb.exists(eb.selectFrom('sessions').select('sessions.id')
            .where('sessions.id', '=', by.sessionId).where('sessions.user_id', '=', id)
            .where('sessions.revoked_at', 'is', null).where('sessions.credentials_version', '=', by.checkedVersion)))
      }
      const updated = await update.returning('credentials_version').executeTakeFirst()
      if (updated === undefined) {
        if (!await trx.selectFrom('users').select('id').where('id', '=', id).executeTakeFirst()) return undefined
        throw by !== undefined ? new StaleCredentialsError() : new LastAdminError()
      }
      const keepSessionId = by?.sessionId
      if (keepSessionId !== undefined) {
        await trx.updateTable('sessions').set({ credentials_version: updated.credentials_version })
          .where('id', '=', keepSessionId).where('user_id', '=', id).execute()
      }
      return this.#endSessions(trx, id, revoke, keepSessionId)
    })
    if (revoked !== undefined && revoked.length > 0) this.#changes.committed()
    return revoked
  }

  // Adds or removes one role and ends every session of the user, like a credential change (tokens carry
  // the roles): the credentials version moves on, so no session of the old roles is refreshed, and the
  // revocations reach running instances through the change log. Never the `admin` role of the last enabled
  // admin, decided under the lock that disabling takes, so two such changes (or a change and a disable)
  // cannot each see the other admin still there. Returns the roles after the change and the revoked
  // sessions (none when the user had, or lacked, the role already), or undefined when there is no such user.
  async changeRoles (id: string, change: { add?: string, remove?: string }, revoke: { reason: string, now: string }):
  Promise<{ roles: string[], changed: boolean, revoked: Array<{ id: string, accessExpiresAt: string | null }> } | undefined> {
    const result = await this.#db.transaction().execute(async (trx) => {
      await lockFor(trx, 'admins') // every writer of roles takes it: the read below is still true at the write
      const row = await trx.selectFrom('users').select('roles').where('id', '=', id).executeTakeFirst()
      if (row === undefined) return undefined
      const before = row.roles === '' ? [] : row.roles.split(',')
      const roles = change.add !== undefined
        ? (before.includes(change.add) ? before : [...before, change.add])
        : before.filter((r) => r !== change.remove)
      if (roles.length === before.length) return { roles, changed: false, revoked: [] }
      let update = trx.updateTable('users')
        .set({ roles: roles.join(','), credentials_version: sql`credentials_version + 1`, updated_at: revoke.now })
        .where('id', '=', id).where('roles', '=', row.roles)
      if (change.remove === 'admin') {
        update = update.where((eb) => eb.or([
          eb('disabled', '=', 1),
          eb.exists(eb.selectFrom('users as other').select('other.id')
            .where('other.id', '!=', id).where('other.disabled', '=', 0).where(sql<boolean>`(',' || other.roles || ',') like '%,admin,%'`))
        ]))
      }
      const updated = await update.executeTakeFirst()
      if (Number(updated.numUpdatedRows) !== 1) throw new LastAdminError('the last enabled admin cannot lose the admin role')
      return { roles, changed: true, revoked: await this.#endSessions(trx, id, revoke) }
    })
    if (result !== undefined && result.revoked.length > 0) this.#changes.committed()
    return result
  }

  // Inside a credential change's transaction: ends the user's live sessions (but `keepSessionId`) and
  // records their revocation in the change log.
  async #endSessions (trx: Db, id: string, revoke: { reason: string, now: string }, keepSessionId?: string) {
    let ended = trx.updateTable('sessions').set({ revoked_at: revoke.now, revoked_reason: revoke.reason })
      .where('user_id', '=', id).where('revoked_at', 'is', null)
    if (keepSessionId !== undefined) ended = ended.where('id', '!=', keepSessionId)
    const rows = await ended.returning(['id', 'access_expires_at']).execute()
    const revoked = rows.map((r) => ({ id: r.id, accessExpiresAt: r.access_expires_at }))
    await this.#changes.record(trx, revocationChanges(revoked), revoke.now)
    return revoked
  }

  async enable (id: string, now: string): Promise<boolean> {
    const result = await this.#db.updateTable('users').set({ disabled: 0, updated_at: now }).where('id', '=', id).executeTakeFirst()
    return Number(result.numUpdatedRows) === 1
  }

  async list (): Promise<User[]> {
    const rows = await this.#db.selectFrom('users').selectAll().orderBy('created_at').orderBy('username_key').execute()
    return rows.map(toUser)
  }

  async count (): Promise<number> {
    const { n } = await this.#db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()
    return Number(n)
  }
}
