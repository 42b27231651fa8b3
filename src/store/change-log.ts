import type { Kysely } from 'kysely'
import type { Db } from './database.js'
import { lockFor, notifyChanges } from './dialect.js'
import type { Database } from './schema.js'

// What other processes must hear of: a session revoked (until when its last access token could be
// presented), or the signing keys changed (one made, one deleted).
type ChangeKind = 'session-revoked' | 'signing-keys'
export interface NewChange { kind: ChangeKind, subject: string, until?: string | null }
export interface Change { id: number, kind: ChangeKind, subject: string, until: string | null }

const BATCH = 500

// The change log: one row for each change other processes must apply to what they keep in memory, in the
// order the store committed them. Processes follow it by the id (a cursor): ordering never depends on
// whose clock wrote a timestamp. Writers take turns on the log (lockFor('changes'), held to commit), so a
// row with a smaller id is always visible before any row with a larger one: a reader that has seen id N
// has seen every change up to N.
export class ChangeLog {
  readonly #db: Db
  readonly #committed = new Set<() => void>()
  constructor (db: Db) { this.#db = db }

  // Records changes inside the caller's transaction, as its last statements (the lock is taken after the
  // transaction's own row locks, so writers never wait for each other in a cycle).
  async record (trx: Kysely<Database>, changes: NewChange[], now: string): Promise<void> {
    if (changes.length === 0) return
    await lockFor(trx, 'changes')
    for (let first = 0; first < changes.length; first += BATCH) {
      await trx.insertInto('changes').values(changes.slice(first, first + BATCH).map((c) => ({
        kind: c.kind, subject: c.subject, until: c.until ?? null, created_at: now
      }))).execute()
    }
    await notifyChanges(trx)
  }

  // Called by the stores after a transaction that recorded changes has committed: hints go out (Redis).
  committed (): void {
    for (const listener of this.#committed) listener()
  }

  onCommitted (listener: () => void): () => void {
    this.#committed.add(listener)
    return () => this.#committed.delete(listener)
  }

  async latest (): Promise<number> {
    const row = await this.#db.selectFrom('changes').select((eb) => eb.fn.max('id').as('id')).executeTakeFirst()
    return Number(row?.id ?? 0)
  }

  async after (cursor: number, limit: number): Promise<Change[]> {
    const rows = await this.#db.selectFrom('changes').select(['id', 'kind', 'subject', 'until'])
      .where('id', '>', cursor).orderBy('id').limit(limit).execute()
    return rows.map((r) => ({ id: Number(r.id), kind: r.kind as ChangeKind, subject: r.subject, until: r.until }))
  }

  // Deletes changes recorded before `before`: a process that has not caught up for that long reloads
  // everything from the store instead (ChangeLogFollower).
  async purge (before: string): Promise<number> {
    const result = await this.#db.deleteFrom('changes').where('created_at', '<', before).executeTakeFirst()
    return Number(result.numDeletedRows)
  }
}
