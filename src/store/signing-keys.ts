import type { Selectable } from 'kysely'
import type { ChangeLog } from './change-log.js'
import { flushOverwrittenSecrets, type Db } from './database.js'
import { lockFor } from './dialect.js'
import type { SigningKeysTable } from './schema.js'

export type SigningKeyRow = Selectable<SigningKeysTable>

// Signing keys as rows. Every key made or deleted is recorded in the change log, so that every process
// re-reads the ring.
export class SigningKeyStore {
  readonly #db: Db
  readonly #changes: ChangeLog
  constructor (db: Db, changes: ChangeLog) {
    this.#db = db
    this.#changes = changes
  }

  // Every key of an algorithm, oldest first.
  all (alg: string): Promise<SigningKeyRow[]> {
    return this.#db.selectFrom('signing_keys').selectAll().where('alg', '=', alg)
      .orderBy('created_at').orderBy('kid').execute()
  }

  async delete (kids: string[], now: string): Promise<void> {
    if (kids.length === 0) return
    await this.#db.transaction().execute(async (trx) => {
      await trx.deleteFrom('signing_keys').where('kid', 'in', kids).execute()
      await this.#changes.record(trx, kids.map((kid) => ({ kind: 'signing-keys' as const, subject: kid })), now)
    })
    this.#changes.committed()
    await flushOverwrittenSecrets(this.#db)
  }

  // Replaces a stored private key by its sealed form, leaving no copy of the old one in the files.
  async setPrivateKey (kid: string, privateKey: string): Promise<void> {
    await this.#db.updateTable('signing_keys').set({ private_key: privateKey }).where('kid', '=', kid).execute()
    await flushOverwrittenSecrets(this.#db)
  }

  // Adds a key; with `unlessActivatingAfter`, only if no key of the algorithm activates after that time
  // ('' : only if it has no key at all). So instances starting together on an empty store make one first
  // key between them, and instances due for a scheduled rotation at once make one new key, not one each.
  // True if it was added.
  async insert (row: SigningKeyRow, unlessActivatingAfter?: string): Promise<boolean> {
    const added = await this.#db.transaction().execute(async (trx) => {
      if (unlessActivatingAfter !== undefined) {
        await lockFor(trx, 'signing-keys')
        const newer = await trx.selectFrom('signing_keys').select('kid').where('alg', '=', row.alg)
          .where((eb) => eb.fn.coalesce('activates_at', 'created_at'), '>', unlessActivatingAfter).executeTakeFirst()
        if (newer) return false
      }
      await trx.insertInto('signing_keys').values(row).execute()
      await this.#changes.record(trx, [{ kind: 'signing-keys', subject: row.kid }], row.created_at)
      return true
    })
    if (added) this.#changes.committed()
    return added
  }
}
