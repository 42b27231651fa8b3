import type { Selectable } from 'kysely'
import type { Db } from './database.js'
import type { SigningKeysTable } from './schema.js'

export type SigningKeyRow = Selectable<SigningKeysTable>

export class SigningKeyStore {
  readonly #db: Db
  constructor (db: Db) { this.#db = db }

  // The oldest key of an algorithm: every instance that starts on this database picks the same one,
  // even if two of them generated one at the same moment.
  first (alg: string): Promise<SigningKeyRow | undefined> {
    return this.#db.selectFrom('signing_keys').selectAll().where('alg', '=', alg)
      .orderBy('created_at').orderBy('kid').executeTakeFirst()
  }

  async insert (row: SigningKeyRow): Promise<void> {
    await this.#db.insertInto('signing_keys').values(row).execute()
  }
}
