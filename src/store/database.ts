import { mkdirSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import SQLite from 'better-sqlite3'
import { Kysely, SqliteDialect } from 'kysely'
import type { Database } from './schema.js'
import { migrateToLatest } from './migrations.js'

export type Db = Kysely<Database>

// Opens the database named by DATABASE_URL and brings its schema up to date.
export async function openDatabase (url: string): Promise<Db> {
  if (!url.startsWith('sqlite:')) throw new Error(`DATABASE_URL: unsupported scheme in "${url.split(':')[0]}:"`)
  const file = url.slice('sqlite:'.length)
  if (file !== ':memory:') mkdirSync(dirname(resolve(file)), { recursive: true })
  const sqlite = new SQLite(file)
  sqlite.pragma('journal_mode = WAL') // readers do not block the writer
  // better-sqlite3 is synchronous: with the default (FULL) every commit fsyncs on the event loop, stalling
  // every request behind each login. In WAL mode NORMAL syncs at checkpoints only; the database stays
  // consistent, and a power cut can lose the last few commits (sessions, at worst, are lost: log in again).
  sqlite.pragma('synchronous = NORMAL')
  sqlite.pragma('busy_timeout = 5000') // a second process (the CLI) waits instead of failing
  sqlite.pragma('foreign_keys = ON')
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) })
  try {
    await migrateToLatest(db)
  } catch (err) {
    await db.destroy()
    throw err
  }
  return db
}

// Errors that mean the store cannot serve now (locked, out of space, I/O, closed), as opposed to a bug:
// the HTTP layer answers them with 503 rather than 500.
const UNAVAILABLE = ['SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_IOERR', 'SQLITE_FULL', 'SQLITE_CANTOPEN', 'SQLITE_READONLY', 'SQLITE_CORRUPT', 'SQLITE_NOTADB']
export function isStoreUnavailable (err: unknown): boolean {
  const { code, message } = err as { code?: unknown, message?: unknown }
  return (typeof code === 'string' && UNAVAILABLE.some((c) => code.startsWith(c))) ||
    message === 'The database connection is not open' || message === 'driver has already been destroyed'
}
