import SQLite from 'better-sqlite3'
import { CompiledQuery, Kysely, sql, SqliteDialect, SqliteDriver, type DatabaseConnection } from 'kysely'
import { setTimeout as sleep } from 'node:timers/promises'
import { privateDatabaseFiles, type Report } from '../private-files.js'
import type { Database } from './schema.js'
import { migrateToLatest } from './migrations.js'

export type Db = Kysely<Database>

export interface DatabaseOptions {
  // How long a write may wait for another process's lock before the store counts as unavailable (503).
  lockTimeoutMs?: number
  // Where notices about the database's files go (modes tightened, a shared folder).
  report?: Report
}

// Opens the database named by DATABASE_URL and brings its schema up to date.
export async function openDatabase (url: string, options: DatabaseOptions = {}): Promise<Db> {
  if (!url.startsWith('sqlite:')) throw new Error(`DATABASE_URL: unsupported scheme in "${url.split(':')[0]}:"`)
  const file = url.slice('sqlite:'.length)
  if (file !== ':memory:') privateDatabaseFiles(file, options.report ?? (() => {}))
  const sqlite = new SQLite(file)
  sqlite.pragma('journal_mode = WAL') // readers do not block the writer
  // better-sqlite3 is synchronous: with the default (FULL) every commit fsyncs on the event loop, stalling
  // every request behind each login. In WAL mode NORMAL syncs at checkpoints only; the database stays
  // consistent, and a power cut can lose the last few commits (sessions, at worst, are lost: log in again).
  sqlite.pragma('synchronous = NORMAL')
  // Never wait for a lock on the event loop: SQLite's busy handler sleeps synchronously, stalling every
  // request (greetings and JWKS included) behind one locked write. Waiting happens in the driver instead.
  sqlite.pragma('busy_timeout = 0')
  sqlite.pragma('foreign_keys = ON')
  // Deleted and overwritten content (retired private keys, keys re-written sealed, password hashes,
  // refresh-token hashes) is zeroed in the file rather than left in free space.
  sqlite.pragma('secure_delete = ON')
  const db = new Kysely<Database>({ dialect: new ResilientSqliteDialect(sqlite, options.lockTimeoutMs ?? 5000) })
  try {
    await migrateToLatest(db)
  } catch (err) {
    await db.destroy()
    throw err
  }
  return db
}

// After a secret has been re-written (sealed) or deleted: copies the WAL into the database file and
// empties it, so that the old bytes are overwritten everywhere now rather than at some later checkpoint.
export async function flushOverwrittenSecrets (db: Db): Promise<void> {
  await sql`PRAGMA wal_checkpoint(TRUNCATE)`.execute(db)
}

const isBusy = (err: unknown) => {
  const code = (err as { code?: unknown }).code
  return code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED' || (typeof code === 'string' && code.startsWith('SQLITE_BUSY_'))
}

// Kysely's SQLite driver, with two changes at the depth where SQLite's behaviour shows:
// - a write that finds the database locked by another process waits asynchronously (backing off, up to
//   `lockTimeoutMs`) instead of in SQLite's synchronous busy handler. Transactions begin IMMEDIATE, so a
//   transaction takes the write lock at its start or not at all, and is retried whole; a statement
//   outside a transaction is retried alone. Either way nothing ran when SQLITE_BUSY came back.
// - SQLite rolls a transaction back by itself after SQLITE_FULL, SQLITE_IOERR and the like; Kysely's own
//   ROLLBACK then fails ("no transaction is active") and that second error used to hide the first. A
//   rollback is only sent while a transaction is open, so the original error is what reaches the caller.
class ResilientSqliteDialect extends SqliteDialect {
  readonly #sqlite: SQLite.Database
  readonly #lockTimeoutMs: number
  constructor (sqlite: SQLite.Database, lockTimeoutMs: number) {
    super({ database: sqlite })
    this.#sqlite = sqlite
    this.#lockTimeoutMs = lockTimeoutMs
  }

  override createDriver () {
    return new ResilientSqliteDriver({ database: this.#sqlite }, this.#sqlite, this.#lockTimeoutMs)
  }
}

class ResilientSqliteDriver extends SqliteDriver {
  readonly #sqlite: SQLite.Database
  readonly #lockTimeoutMs: number
  constructor (config: ConstructorParameters<typeof SqliteDriver>[0], sqlite: SQLite.Database, lockTimeoutMs: number) {
    super(config)
    this.#sqlite = sqlite
    this.#lockTimeoutMs = lockTimeoutMs
  }

  override async acquireConnection (): Promise<DatabaseConnection> {
    const connection = await super.acquireConnection()
    const sqlite = this.#sqlite
    const retry = <T>(run: () => Promise<T>) => this.#whileLocked(run)
    return {
      // Inside a transaction the write lock is held already (BEGIN IMMEDIATE): no waiting there.
      executeQuery: <R>(query: CompiledQuery) => sqlite.inTransaction ? connection.executeQuery<R>(query) : retry(() => connection.executeQuery<R>(query)),
      streamQuery: <R>(query: CompiledQuery, chunkSize?: number) => connection.streamQuery<R>(query, chunkSize)
    }
  }

  override async beginTransaction (connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('begin immediate'))
  }

  override async rollbackTransaction (connection: DatabaseConnection): Promise<void> {
    if (this.#sqlite.inTransaction) await connection.executeQuery(CompiledQuery.raw('rollback'))
  }

  async #whileLocked<T> (run: () => Promise<T>): Promise<T> {
    const deadline = Date.now() + this.#lockTimeoutMs
    for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
      try {
        return await run()
      } catch (err) {
        if (!isBusy(err) || Date.now() + delay > deadline) throw err
        await sleep(delay)
      }
    }
  }
}

// Errors that mean the store cannot serve now (locked, out of space, I/O, closed), as opposed to a bug:
// the HTTP layer answers them with 503 rather than 500.
const UNAVAILABLE = ['SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_IOERR', 'SQLITE_FULL', 'SQLITE_CANTOPEN', 'SQLITE_READONLY', 'SQLITE_CORRUPT', 'SQLITE_NOTADB']
export function isStoreUnavailable (err: unknown): boolean {
  const { code, message } = err as { code?: unknown, message?: unknown }
  return (typeof code === 'string' && UNAVAILABLE.some((c) => code.startsWith(c))) ||
    message === 'The database connection is not open' || message === 'driver has already been destroyed'
}
