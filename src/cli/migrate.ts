import { database, loadConfig, unavailable } from './domain.js'
import type { CliIo } from './io.js'

// `migrate`: the store's schema brought up to date, saying what ran.
export async function migrate (io: CliIo): Promise<void> {
  const config = await loadConfig(io.env)
  const { connectDatabase, databaseOptions } = await database()
  const { MIGRATIONS } = await import('../store/migrations.js')
  const store = await connectDatabase(config.DATABASE_URL, databaseOptions(config))
  try {
    await store.open()
  } catch (err) {
    throw await unavailable(err, config)
  } finally {
    await store.db.destroy()
  }
  const latest = MIGRATIONS[MIGRATIONS.length - 1]
  if (store.migrated.length === 0) {
    io.stdout.write(`nothing to do: the schema is up to date (${MIGRATIONS.length} migrations, the latest ${latest})\n`)
  } else {
    for (const name of store.migrated) io.stdout.write(`ran ${name}\n`)
    io.stdout.write(`the schema is up to date (${MIGRATIONS.length} migrations, the latest ${latest})\n`)
  }
}
