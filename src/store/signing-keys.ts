import type { Selectable } from 'kysely'
import { flushOverwrittenSecrets, type Db } from './database.js'
import type { SigningKeysTable } from './schema.js'

export type SigningKeyRow = Selectable<SigningKeysTable>

export class SigningKeyStore {
  readonly #db: Db
  constructor (db: Db) { this.#db = db }

  // Every key of an algorithm, oldest first.
  all (alg: string): Promise<SigningKeyRow[]> {
    return this.#db.selectFrom('signing_keys').selectAll().where('alg', '=', alg)
      .orderBy('created_at').orderBy('kid').execute()
  }

  async delete (kids: string[]): Promise<void> {
    if (kids.length === 0) return
    await this.#db.deleteFrom('signing_keys').where('kid', 'in', kids).execute()
    await flushOverwrittenSecrets(this.#db)
  }

  // Replaces a stored private key by its sealed form, leaving no copy of the old one in the files.
  async setPrivateKey (kid: string, privateKey: string): Promise<void> {
    await this.#db.updateTable('signing_keys').set({ private_key: privateKey }).where('kid', '=', kid).execute()
    await flushOverwrittenSecrets(this.#db)
  }

  async insert (row: SigningKeyRow): Promise<void> {
    await this.#db.insertInto('signing_keys').values(row).execute()
  }
}
