import type { Kysely, Migration } from 'kysely'
import { Migrator } from 'kysely'

// Versioned, ordered by name, run at every start; Kysely records what has run and takes a lock,
// so two instances starting together do not both migrate. Written in Kysely's schema builder so
// the same migrations serve every dialect.
const migrations: Record<string, Migration> = {
  '0001_users_and_keys': {
    async up (db: Kysely<any>) {
      await db.schema.createTable('users')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('username', 'text', (c) => c.notNull())
        .addColumn('username_key', 'text', (c) => c.notNull().unique())
        .addColumn('password_hash', 'text', (c) => c.notNull())
        .addColumn('disabled', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'text', (c) => c.notNull())
        .execute()
      await db.schema.createTable('signing_keys')
        .addColumn('kid', 'text', (c) => c.primaryKey())
        .addColumn('alg', 'text', (c) => c.notNull())
        .addColumn('private_key', 'text', (c) => c.notNull())
        .addColumn('public_key', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute()
    },
    async down (db: Kysely<any>) {
      await db.schema.dropTable('signing_keys').execute()
      await db.schema.dropTable('users').execute()
    }
  }
}

export async function migrateToLatest (db: Kysely<any>): Promise<void> {
  const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations } })
  const { error, results } = await migrator.migrateToLatest()
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName ?? 'unknown'
    throw new Error(`database migration ${failed} failed: ${(error as Error).message ?? String(error)}`, { cause: error })
  }
}
