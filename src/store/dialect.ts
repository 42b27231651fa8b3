import {
  BinaryOperationNode, OperationNodeTransformer, OperatorNode, PostgresAdapter, PrimitiveValueListNode, sql, ValueListNode, ValueNode,
  type ColumnDefinitionBuilder, type Kysely, type KyselyPlugin, type OperationNode, type PluginTransformQueryArgs,
  type PluginTransformResultArgs, type QueryResult, type RootOperationNode, type UnknownRow
} from 'kysely'

// Where SQLite and PostgreSQL truly differ, in one place: everything else is the same Kysely query on both.

const isPostgres = (db: Kysely<any>): boolean => db.getExecutor().adapter instanceof PostgresAdapter

// The channel PostgreSQL's NOTIFY carries change hints on (LISTEN/NOTIFY are per database already).
export const CHANGE_CHANNEL = 'auth_service_changes'

// Serialises the transactions that take the same named lock, until they commit or roll back. SQLite needs
// none: a transaction begins IMMEDIATE, so every writer runs alone. PostgreSQL at READ COMMITTED lets two
// transactions each read the other's rows as they were (write skew); a transaction-scoped advisory lock
// makes them take turns.
// `username:<skeleton>`: signups of look-alike names take turns (a different skeleton whose hash collides
// only waits a little longer).
export async function lockFor (trx: Kysely<any>, name: 'changes' | 'admins' | 'signing-keys' | `username:${string}`): Promise<void> {
  if (isPostgres(trx)) await sql`select pg_advisory_xact_lock(hashtext(${'auth-service:' + name}))`.execute(trx)
}

// Inside the transaction that records changes: PostgreSQL delivers the notification when, and only if, it
// commits, to every session LISTENing. SQLite has nobody to tell: its readers poll.
export async function notifyChanges (trx: Kysely<any>): Promise<void> {
  if (isPostgres(trx)) await sql`select pg_notify(${CHANGE_CHANNEL}, '')`.execute(trx)
}

// An ever-increasing integer key assigned by the database: the order in which changes were committed.
export function identityColumn (db: Kysely<any>): ['bigserial' | 'integer', (c: ColumnDefinitionBuilder) => ColumnDefinitionBuilder] {
  return isPostgres(db)
    ? ['bigserial', (c) => c.primaryKey()]
    : ['integer', (c) => c.primaryKey().autoIncrement()] // AUTOINCREMENT: never reuses an id, even of a deleted last row
}

// After a secret has been re-written (sealed) or deleted. SQLite: copies the WAL into the database file and
// empties it, so that the old bytes (zeroed by secure_delete) are overwritten everywhere now rather than at
// some later checkpoint. PostgreSQL leaves dead row versions to VACUUM; its files are the server's to guard.
export async function flushOverwrittenSecrets (db: Kysely<any>): Promise<void> {
  if (!isPostgres(db)) await sql`PRAGMA wal_checkpoint(TRUNCATE)`.execute(db)
}

// PostgreSQL's text cannot hold a NUL character (U+0000): a statement that merely compares a column with a
// value containing one fails (`invalid byte sequence for encoding "UTF8": 0x00`), where SQLite compares it
// like any other text and finds nothing. No stored value has one — new names refuse control characters,
// ids and token hashes are the service's own — so such a comparison is decided here, before PostgreSQL
// sees it: equal to nothing (`=`, `is`, an `in` list without it), different from everything (`!=`, `<>`,
// `is not`, `not in`). Every query of every route and command is covered at once: a login name, a session
// or user id in a URL, a name given to the CLI. PostgreSQL then answers as SQLite does (no such user, no
// such session: 401, 404), never with an error. A NUL in a value written (an insert, an update's `set`) is
// left to fail: the service writes only what it has validated or made, so that would be a bug.
const NUL = '\u0000'
const hasNul = (value: unknown): boolean => typeof value === 'string' && value.includes(NUL)
const EQUALS = new Set(['=', '==', 'is'])
const DIFFERS = new Set(['!=', '<>', 'is not'])
const LISTS = new Set(['in', 'not in'])
// Constant conditions that are a BinaryOperationNode still: `1 = 0`, `1 = 1` (immediate, no parameter).
const constant = (truth: boolean) =>
  BinaryOperationNode.create(ValueNode.createImmediate(1), OperatorNode.create('='), ValueNode.createImmediate(truth ? 1 : 0))

// Whether a query tree carries a NUL in any value: the common case (none) costs one walk, and no copy.
function carriesNul (node: unknown): boolean {
  if (hasNul(node)) return true
  if (node === null || typeof node !== 'object') return false
  if (Array.isArray(node)) return node.some(carriesNul)
  for (const key in node) if (carriesNul((node as Record<string, unknown>)[key])) return true
  return false
}

class NulComparisons extends OperationNodeTransformer {
  protected override transformBinaryOperation (node: BinaryOperationNode, queryId?: Parameters<OperationNodeTransformer['transformNode']>[1]): BinaryOperationNode {
    const operator = OperatorNode.is(node.operator) ? node.operator.operator : undefined
    if (operator !== undefined && (EQUALS.has(operator) || DIFFERS.has(operator))) {
      const sides = [node.leftOperand, node.rightOperand]
      if (sides.some((side) => ValueNode.is(side) && hasNul(side.value))) return constant(DIFFERS.has(operator))
    }
    if (operator !== undefined && LISTS.has(operator)) {
      const list = node.rightOperand
      let kept: OperationNode | undefined
      let empty = false
      if (PrimitiveValueListNode.is(list) && list.values.some(hasNul)) {
        const values = list.values.filter((v) => !hasNul(v))
        empty = values.length === 0
        kept = PrimitiveValueListNode.create(values)
      } else if (ValueListNode.is(list) && list.values.some((v) => ValueNode.is(v) && hasNul(v.value))) {
        const values = list.values.filter((v) => !(ValueNode.is(v) && hasNul(v.value)))
        empty = values.length === 0
        kept = ValueListNode.create(values)
      }
      if (empty) return constant(operator === 'not in') // `in ()` is no SQL: in nothing is false
      if (kept !== undefined) return super.transformBinaryOperation(BinaryOperationNode.create(node.leftOperand, node.operator, kept), queryId)
    }
    return super.transformBinaryOperation(node, queryId)
  }
}

export class NulComparisonsPlugin implements KyselyPlugin {
  readonly #transformer = new NulComparisons()
  transformQuery (args: PluginTransformQueryArgs): RootOperationNode {
    return carriesNul(args.node) ? this.#transformer.transformNode(args.node, args.queryId) : args.node
  }

  async transformResult (args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    return args.result
  }
}

// A query before the store was opened (migrated): the service is still starting.
export class StoreNotReadyError extends Error {
  readonly code = 'STORE_NOT_READY'
  constructor () { super('the store is not ready yet') }
}

// Errors that mean the store cannot serve now (locked, out of space, I/O, unreachable, timed out,
// shutting down), as opposed to a bug: the HTTP layer answers them with 503 rather than 500.
const SQLITE_UNAVAILABLE = ['SQLITE_BUSY', 'SQLITE_LOCKED', 'SQLITE_IOERR', 'SQLITE_FULL', 'SQLITE_CANTOPEN', 'SQLITE_READONLY', 'SQLITE_CORRUPT', 'SQLITE_NOTADB']
// PostgreSQL SQLSTATE classes and codes: connection exceptions (08), insufficient resources (53), operator
// intervention (57: statement timeout, shutdown), serialization failure and deadlock (40001, 40P01), lock
// not available (55P03), read-only transaction (25006: a replica promoted away).
const POSTGRES_UNAVAILABLE = /^(08|53|57|58)|^(40001|40P01|55P03|25006)$/
const NETWORK = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN'])
const MESSAGES = [
  'The database connection is not open', 'driver has already been destroyed', // better-sqlite3, Kysely
  'Connection terminated', 'timeout exceeded when trying to connect', 'Query read timeout', // pg
  'Client has encountered a connection error', 'Cannot use a pool after calling end', 'Client was closed'
]
export function isStoreUnavailable (err: unknown): boolean {
  if (err === null || typeof err !== 'object') return false
  const { code, message } = err as { code?: unknown, message?: unknown }
  if (typeof code === 'string' && (code === 'STORE_NOT_READY' || SQLITE_UNAVAILABLE.some((c) => code.startsWith(c)) || NETWORK.has(code) ||
    (code.length === 5 && POSTGRES_UNAVAILABLE.test(code)))) return true
  if (typeof message === 'string' && MESSAGES.some((m) => message.startsWith(m))) return true
  const cause = (err as { cause?: unknown }).cause
  return err instanceof AggregateError ? err.errors.some(isStoreUnavailable) : cause !== undefined && cause !== err && isStoreUnavailable(cause)
}
