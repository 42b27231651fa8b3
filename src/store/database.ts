import SQLite from 'better-sqlite3'
import { CompiledQuery, Kysely, PostgresDialect, SqliteDialect, SqliteDriver, type AbortableOperationOptions, type DatabaseConnection, type KyselyPlugin, type PluginTransformQueryArgs, type PluginTransformResultArgs, type QueryResult, type RootOperationNode, type UnknownRow } from 'kysely'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Config } from '../config/schema.js'
import { privateDatabaseFiles, type Report } from '../support/private-files.js'
import type { Database } from './schema.js'
import { NulComparisonsPlugin, StoreNotReadyError } from './dialect.js'
import { migrateToLatest } from './migrations.js'
import { onceAMinute } from '../support/log-throttle.js'

export type Db = Kysely<Database>

export { flushOverwrittenSecrets, isStoreUnavailable, StoreNotReadyError } from './dialect.js'

export interface DatabaseOptions {
  // How long a write may wait for another process's lock before the store counts as unavailable (503).
  lockTimeoutMs?: number
  // PostgreSQL: connections in the pool, the longest a statement may run, the longest to wait for a
  // connection (a new one, or a free one from a busy pool).
  poolSize?: number
  statementTimeoutMs?: number
  connectTimeoutMs?: number
  // Where notices about the database's files go (modes tightened, a shared folder, a lost connection).
  report?: Report
}

export function databaseOptions (config: Pick<Config, 'DATABASE_LOCK_TIMEOUT' | 'DATABASE_POOL_SIZE' | 'DATABASE_STATEMENT_TIMEOUT' | 'DATABASE_CONNECT_TIMEOUT'>, report?: Report): DatabaseOptions {
  return {
    lockTimeoutMs: config.DATABASE_LOCK_TIMEOUT * 1000,
    poolSize: config.DATABASE_POOL_SIZE,
    statementTimeoutMs: config.DATABASE_STATEMENT_TIMEOUT * 1000,
    connectTimeoutMs: config.DATABASE_CONNECT_TIMEOUT * 1000,
    report
  }
}

export const isPostgresUrl = (url: string) => /^postgres(ql)?:\/\//.test(url)

// A database handle that refuses every query (StoreNotReadyError, answered 503) until open() has brought
// the schema up to date. Nothing connects before open(): a service can start, and listen, while its
// database is unreachable, and open() again until it succeeds. Several instances may open at once: the
// migrator takes a lock (an advisory lock on PostgreSQL, the write lock on SQLite).
export interface Store {
  db: Db
  open (): Promise<void>
  readonly opened: boolean
  // The migrations the last open() ran (`auth-service migrate` says which).
  readonly migrated: string[]
}

export async function connectDatabase (url: string, options: DatabaseOptions = {}): Promise<Store> {
  let base: Db
  if (isPostgresUrl(url)) base = await openPostgres(url, options)
  else if (url.startsWith('sqlite:')) base = openSqlite(url.slice('sqlite:'.length), options)
  else throw new Error(`DATABASE_URL: unsupported scheme in "${url.split(':')[0]}:"`)
  const gate = new StoreGate()
  let migrated: string[] = []
  return {
    db: base.withPlugin(gate),
    async open () {
      if (gate.open) return
      migrated = await migrateToLatest(base)
      gate.open = true
    },
    get opened () { return gate.open },
    get migrated () { return migrated }
  }
}

class StoreGate implements KyselyPlugin {
  open = false
  transformQuery (args: PluginTransformQueryArgs): RootOperationNode {
    if (!this.open) throw new StoreNotReadyError()
    return args.node
  }

  async transformResult (args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return args.result
  }
}

// Opens the database and brings its schema up to date, or fails: for programs that run once (the CLI,
// the bench's setup).
export async function openDatabase (url: string, options: DatabaseOptions = {}): Promise<Db> {
  const store = await connectDatabase(url, options)
  try {
    await store.open()
  } catch (err) {
    await store.db.destroy()
    throw err
  }
  return store.db
}

// PostgreSQL through pg's pool. `sslmode` and the other connection parameters come from the URL (pg reads
// them). Every statement is bounded (statement_timeout, lock_timeout), so a stuck database answers 503
// instead of holding requests; a transaction left idle is ended by the server.
async function openPostgres (url: string, options: DatabaseOptions): Promise<Db> {
  // pg is loaded only for a PostgreSQL store: an instance on SQLite (the default) never holds it or its
  // dependencies, about 2 MB of heap (ioredis likewise, loaded where REDIS_URL is set).
  const { default: pg } = await import('pg')
  const statementTimeoutMs = options.statementTimeoutMs ?? 5000
  const pool = new pg.Pool({
    connectionString: url,
    max: options.poolSize ?? 10,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
    statement_timeout: statementTimeoutMs,
    lock_timeout: options.lockTimeoutMs ?? 5000,
    idle_in_transaction_session_timeout: statementTimeoutMs * 2,
    // A server that stops answering mid-query (a cut network): the client gives up too.
    query_timeout: statementTimeoutMs + 1000,
    keepAlive: true,
    application_name: 'auth-service'
  })
  // A connection that breaks (server restart, network cut) must not crash the process. pg's pool listens
  // for errors on idle connections only ('error' on the pool); a connection checked out between two
  // statements (Kysely holds one for a whole transaction) emits 'error' with nobody listening, which
  // throws: measured, cutting the network under 20 logins killed the process. Every connection gets a
  // listener of its own; the statement in flight fails (503), and the pool drops the broken connection.
  // Reported at most once a minute: an outage breaks every connection of the pool at once.
  const lost = onceAMinute((unreported, err: Error) => {
    options.report?.({ level: 'warn', path: '', message: `database connection lost: ${err.message}${unreported ? ` (and ${unreported} more in the last minute)` : ''}` })
  })
  pool.on('error', lost)
  pool.on('connect', (client) => { client.on('error', lost) })
  // Comparisons with a NUL character are decided before PostgreSQL sees them (see NulComparisonsPlugin).
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }), plugins: [new NulComparisonsPlugin()] })
}

function openSqlite (file: string, options: DatabaseOptions): Db {
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
  return new Kysely<Database>({ dialect: new ResilientSqliteDialect(sqlite, options.lockTimeoutMs ?? 5000) })
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
      executeQuery: <R>(query: CompiledQuery, options?: AbortableOperationOptions) =>
        sqlite.inTransaction ? connection.executeQuery<R>(query, options) : retry(() => connection.executeQuery<R>(query, options)),
      streamQuery: <R>(query: CompiledQuery, chunkSize: number, options?: AbortableOperationOptions) => connection.streamQuery<R>(query, chunkSize, options)
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
