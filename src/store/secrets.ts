import { SecretBox } from '../support/secret-box.js'
import { flushOverwrittenSecrets, type Db } from './database.js'

// The service's own secrets (keys it uses, never hands out), by name, encrypted at rest by `box` when
// KEY_ENCRYPTION_KEY is set.
export class SecretStore {
  readonly #db: Db
  readonly #box: SecretBox
  constructor (db: Db, box = new SecretBox()) {
    this.#db = db
    this.#box = box
  }

  // The secret named `name`, created from `make()` if there is none. Instances racing to create it agree on
  // the first one written.
  async getOrCreate (name: string, make: () => string, now: string): Promise<string> {
    await this.#db.insertInto('service_secrets').values({ name, value: this.#box.seal(make(), name), created_at: now })
      .onConflict((oc) => oc.column('name').doNothing()).execute()
    const row = await this.#db.selectFrom('service_secrets').select('value').where('name', '=', name).executeTakeFirstOrThrow()
    const value = this.#box.open(row.value, name, 'the service\'s secrets')
    if (this.#box.keyed && !SecretBox.isSealed(row.value)) {
      await this.#db.updateTable('service_secrets').set({ value: this.#box.seal(value, name) }).where('name', '=', name).execute()
      await flushOverwrittenSecrets(this.#db)
    }
    return value
  }
}
