import type { Db } from './database.js'

// The service's own secrets (keys it uses, never hands out), by name.
export class SecretStore {
  readonly #db: Db
  constructor (db: Db) { this.#db = db }

  // The secret named `name`, created from `make()` if there is none. Instances racing to create it agree on
  // the first one written.
  async getOrCreate (name: string, make: () => string, now: string): Promise<string> {
    await this.#db.insertInto('service_secrets').values({ name, value: make(), created_at: now })
      .onConflict((oc) => oc.column('name').doNothing()).execute()
    const row = await this.#db.selectFrom('service_secrets').select('value').where('name', '=', name).executeTakeFirstOrThrow()
    return row.value
  }
}
