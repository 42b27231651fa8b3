import type { Kysely } from 'kysely'
import { Migrator, type Migration } from 'kysely/migration'
import { MAX_ACCESS_TOKEN_TTL_SECONDS } from '../config/schema.js'
import { casedSkeletons, usernameSkeleton } from '../text/usernames.js'
import { identityColumn } from './dialect.js'

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
  },
  '0002_roles_and_sessions': {
    async up (db: Kysely<any>) {
      await db.schema.alterTable('users').addColumn('roles', 'text', (c) => c.notNull().defaultTo('')).execute()
      await db.schema.createTable('sessions')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('last_used_at', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'text', (c) => c.notNull())
        .addColumn('user_agent', 'text')
        .addColumn('ip', 'text')
        .addColumn('revoked_at', 'text')
        .addColumn('revoked_reason', 'text')
        .execute()
      await db.schema.createIndex('sessions_user_id').on('sessions').column('user_id').execute()
      await db.schema.createIndex('sessions_revoked_at').on('sessions').column('revoked_at').execute()
      await db.schema.createIndex('sessions_expires_at').on('sessions').column('expires_at').execute()
      await db.schema.createTable('refresh_tokens')
        .addColumn('token_hash', 'text', (c) => c.primaryKey())
        .addColumn('session_id', 'text', (c) => c.notNull().references('sessions.id').onDelete('cascade'))
        .addColumn('created_at', 'text', (c) => c.notNull())
        .addColumn('expires_at', 'text', (c) => c.notNull())
        .addColumn('spent_at', 'text')
        .execute()
      await db.schema.createIndex('refresh_tokens_session_id').on('refresh_tokens').column('session_id').execute()
      await db.schema.createIndex('refresh_tokens_expires_at').on('refresh_tokens').column('expires_at').execute()
    },
    async down (db: Kysely<any>) {
      await db.schema.dropTable('refresh_tokens').execute()
      await db.schema.dropTable('sessions').execute()
      await db.schema.alterTable('users').dropColumn('roles').execute()
    }
  },
  '0003_key_activation': {
    async up (db: Kysely<any>) {
      await db.schema.alterTable('signing_keys').addColumn('activates_at', 'text').execute()
    },
    async down (db: Kysely<any>) {
      await db.schema.alterTable('signing_keys').dropColumn('activates_at').execute()
    }
  },
  // The credential lifecycle: a version on the user row that every credential change moves on, and the
  // version each session was started under; the expiry of the last access token each session issued;
  // whether a password hash was made from the NFKC form; keys that sign and accept low-S ECDSA only; and
  // the service's own secrets (the refresh-token successor key).
  '0004_credential_lifecycle': {
    async up (db: Kysely<any>) {
      await db.schema.alterTable('users').addColumn('credentials_version', 'integer', (c) => c.notNull().defaultTo(0)).execute()
      await db.schema.alterTable('users').addColumn('password_normalized', 'integer', (c) => c.notNull().defaultTo(0)).execute()
      await db.schema.alterTable('users').addColumn('last_login_at', 'text').execute()
      await db.schema.alterTable('sessions').addColumn('credentials_version', 'integer', (c) => c.notNull().defaultTo(0)).execute()
      await db.schema.alterTable('sessions').addColumn('access_expires_at', 'text').execute()
      await db.schema.createIndex('sessions_access_expires_at').on('sessions').column('access_expires_at').execute()
      await db.schema.alterTable('signing_keys').addColumn('low_s', 'integer', (c) => c.notNull().defaultTo(0)).execute()
      await db.schema.createTable('service_secrets')
        .addColumn('name', 'text', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute()
      // Sessions from before this migration: the longest an access token could have lived (the largest
      // ACCESS_TOKEN_TTL the configuration allows) after the session was last used.
      const old = await db.selectFrom('sessions').select(['id', 'last_used_at']).execute()
      for (const row of old) {
        const until = new Date(Date.parse(row.last_used_at) + MAX_ACCESS_TOKEN_TTL_SECONDS * 1000).toISOString()
        await db.updateTable('sessions').set({ access_expires_at: until }).where('id', '=', row.id).execute()
      }
    },
    async down (db: Kysely<any>) {
      await db.schema.dropTable('service_secrets').execute()
      await db.schema.alterTable('signing_keys').dropColumn('low_s').execute()
      await db.schema.dropIndex('sessions_access_expires_at').execute()
      await db.schema.alterTable('sessions').dropColumn('access_expires_at').execute()
      await db.schema.alterTable('sessions').dropColumn('credentials_version').execute()
      await db.schema.alterTable('users').dropColumn('last_login_at').execute()
      await db.schema.alterTable('users').dropColumn('password_normalized').execute()
      await db.schema.alterTable('users').dropColumn('credentials_version').execute()
    }
  },
  // The change log other processes follow by its id (src/store/change-log.ts).
  '0005_change_log': {
    async up (db: Kysely<any>) {
      const [type, id] = identityColumn(db)
      await db.schema.createTable('changes')
        .addColumn('id', type, id)
        .addColumn('kind', 'text', (c) => c.notNull())
        .addColumn('subject', 'text', (c) => c.notNull())
        .addColumn('until', 'text')
        .addColumn('created_at', 'text', (c) => c.notNull())
        .execute()
      await db.schema.createIndex('changes_created_at').on('changes').column('created_at').execute()
    },
    async down (db: Kysely<any>) {
      await db.schema.dropTable('changes').execute()
    }
  },
  // Look-alike usernames (UTS #39 skeletons, src/text/usernames.ts): the skeleton of every name, computed for the
  // users already there. Indexed but NOT unique: a store may already hold two names that look alike, and it
  // must still migrate; both keep working, and no new name like them can be made. A new version of the
  // confusables data means a new migration that recomputes the column.
  '0006_username_skeleton': {
    async up (db: Kysely<any>) {
      await db.schema.alterTable('users').addColumn('username_skeleton', 'text').execute()
      const users = await db.selectFrom('users').select(['id', 'username']).execute()
      for (const user of users) {
        await db.updateTable('users').set({ username_skeleton: usernameSkeleton(user.username) }).where('id', '=', user.id).execute()
      }
      await db.schema.createIndex('users_username_skeleton').on('users').column('username_skeleton').execute()
    },
    async down (db: Kysely<any>) {
      await db.schema.dropIndex('users_username_skeleton').execute()
      await db.schema.alterTable('users').dropColumn('username_skeleton').execute()
    }
  },
  // Look-alikes that only capitals show ('BlLL' beside 'BILL', 'ADMlN' beside admin): the skeletons of each
  // name as shown and in capitals (src/text/usernames.ts casedSkeletons), indexed, not unique (as 0006).
  '0007_username_skeleton_cased': {
    async up (db: Kysely<any>) {
      await db.schema.alterTable('users').addColumn('username_skeleton_display', 'text').execute()
      await db.schema.alterTable('users').addColumn('username_skeleton_upper', 'text').execute()
      const users = await db.selectFrom('users').select(['id', 'username']).execute()
      for (const user of users) {
        const { display, upper } = casedSkeletons(user.username)
        await db.updateTable('users').set({ username_skeleton_display: display, username_skeleton_upper: upper }).where('id', '=', user.id).execute()
      }
      await db.schema.createIndex('users_username_skeleton_display').on('users').column('username_skeleton_display').execute()
      await db.schema.createIndex('users_username_skeleton_upper').on('users').column('username_skeleton_upper').execute()
    },
    async down (db: Kysely<any>) {
      await db.schema.dropIndex('users_username_skeleton_upper').execute()
      await db.schema.dropIndex('users_username_skeleton_display').execute()
      await db.schema.alterTable('users').dropColumn('username_skeleton_upper').execute()
      await db.schema.alterTable('users').dropColumn('username_skeleton_display').execute()
    }
  },
  // Skeletons that ignore default-ignorable code points (src/text/usernames.ts skeleton): every stored skeleton
  // recomputed, so that a name made with an invisible character ('admin' + U+3164, which new names may no
  // longer hold) now meets the name it looks like, and no new look-alike of either can be made. Names,
  // login keys and passwords are left as they are: every user logs in as before. Two users that now share a
  // skeleton both stay (the indexes are not unique); `auth-service users lookalikes` lists them.
  '0008_username_skeleton_ignorables': {
    async up (db: Kysely<any>) {
      const users = await db.selectFrom('users').select(['id', 'username']).execute()
      for (const user of users) {
        const { display, upper } = casedSkeletons(user.username)
        await db.updateTable('users')
          .set({ username_skeleton: usernameSkeleton(user.username), username_skeleton_display: display, username_skeleton_upper: upper })
          .where('id', '=', user.id).execute()
      }
    }
    // No down: the skeletons as an older version computed them are not kept, and an older version reads
    // these just as well (they only make more names look alike).
  }
}

// Runs the migrations not run yet, in order; the names of those it ran (none: the schema was up to date).
export async function migrateToLatest (db: Kysely<any>): Promise<string[]> {
  return migrate(db)
}

// Up to and including the migration named: a store as an older version left it (tests of an upgrade).
export async function migrateUpTo (db: Kysely<any>, name: string): Promise<string[]> {
  return migrate(db, name)
}

// Every migration this version knows, in order: by code unit, the one order used here and given to Kysely.
const byCodeUnits = (a: string, b: string) => a < b ? -1 : a > b ? 1 : 0
export const MIGRATIONS = Object.keys(migrations).sort(byCodeUnits)

async function migrate (db: Kysely<any>, upTo?: string): Promise<string[]> {
  // Kysely's default order is localeCompare's (the same for these fixed-width names), which loads ICU's
  // collation data: about 2 MB of RSS for the process's life, for one sort at start-up.
  const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations }, nameComparator: byCodeUnits })
  const { error, results } = upTo === undefined ? await migrator.migrateToLatest() : await migrator.migrateTo(upTo)
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')?.migrationName
    const message = (error as Error).message ?? String(error)
    // Before any migration ran (the database unreachable, say), the error is the database's, not a migration's.
    throw new Error(failed ? `database migration ${failed} failed: ${message}` : message, { cause: error })
  }
  return (results ?? []).filter((r) => r.status === 'Success' && r.direction === 'Up').map((r) => r.migrationName)
}
