// With KEY_ENCRYPTION_KEY, a private signing key or a service secret is sealed before it is written, not
// only in the row that stays: a value written in the clear and sealed later survives, on PostgreSQL, in old
// row versions and the WAL until vacuum (and in SQLite's WAL until a checkpoint). So every value the service
// writes to those tables is captured as it is written, by triggers the test installs into an audit table of
// its own, and none may be in the clear. Runs on SQLite, and on PostgreSQL (test/postgres/).
import SQLite from 'better-sqlite3'
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import t from 'tap'
import { addUser, build, cli, loginTokens, PASSWORD, refresh, testDatabase, testEnv } from './support/index.js'

const KEY = randomBytes(24).toString('base64url')

interface Written { tbl: string, op: string, value: string }

const SQLITE_CAPTURE = ['signing_keys:private_key', 'service_secrets:value'].flatMap((spec) => {
  const [table, column] = spec.split(':')
  return ['INSERT', 'UPDATE'].map((op) => `CREATE TRIGGER capture_${table}_${op.toLowerCase()} BEFORE ${op} ON ${table}
    BEGIN INSERT INTO test_written (tbl, op, value) VALUES ('${table}', '${op}', NEW.${column}); END`)
})

const POSTGRES_CAPTURE = ['signing_keys:private_key', 'service_secrets:value'].flatMap((spec) => {
  const [table, column] = spec.split(':')
  return [`CREATE FUNCTION capture_${table}() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN INSERT INTO test_written (tbl, op, value) VALUES (TG_TABLE_NAME, TG_OP, NEW.${column}); RETURN NEW; END $$`,
  `CREATE TRIGGER capture_${table} BEFORE INSERT OR UPDATE ON ${table} FOR EACH ROW EXECUTE FUNCTION capture_${table}()`]
})

// Installs the capture into the (migrated) store at `url`; returns what it has captured so far.
async function capture (url: string): Promise<() => Promise<Written[]>> {
  if (testDatabase === 'sqlite') {
    const file = url.slice('sqlite:'.length)
    const db = new SQLite(file)
    db.exec('CREATE TABLE test_written (tbl TEXT NOT NULL, op TEXT NOT NULL, value TEXT NOT NULL)')
    for (const statement of SQLITE_CAPTURE) db.exec(statement)
    db.close()
    return async () => {
      const reader = new SQLite(file, { readonly: true })
      try { return reader.prepare('SELECT tbl, op, value FROM test_written').all() as Written[] } finally { reader.close() }
    }
  }
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    await client.query('CREATE TABLE test_written (tbl text NOT NULL, op text NOT NULL, value text NOT NULL)')
    for (const statement of POSTGRES_CAPTURE) await client.query(statement)
  } finally {
    await client.end()
  }
  return async () => {
    const reader = new pg.Client({ connectionString: url })
    await reader.connect()
    try { return (await reader.query<Written>('SELECT tbl, op, value FROM test_written')).rows } finally { await reader.end() }
  }
}

t.test('with KEY_ENCRYPTION_KEY, every private key and service secret is sealed when it is written, not later', async (t) => {
  const env = testEnv(t, { KEY_ENCRYPTION_KEY: KEY })
  const migrated = await cli(env, ['migrate'])
  t.equal(migrated.code, 0, migrated.stderr)
  const written = await capture(env.DATABASE_URL!)

  // The first key (made at start-up), the refresh-token successor key (a service secret), a rotation by
  // the service and one by the CLI.
  const app = await build(t, env)
  await addUser(app, 'alice', PASSWORD)
  const tokens = await loginTokens(app, 'alice', PASSWORD)
  t.equal((await refresh(app, tokens.refreshToken)).statusCode, 200)
  await app.keys.rotate()
  const rotated = await cli(env, ['keys', 'rotate'])
  t.equal(rotated.code, 0, 'keys rotate by the CLI')
  await app.keys.refresh()
  await app.close()
  const again = await build(t, env) // a restart reads every key, and re-seals none
  await again.close()

  const rows = await written()
  const keys = rows.filter((r) => r.tbl === 'signing_keys')
  const secrets = rows.filter((r) => r.tbl === 'service_secrets')
  t.ok(keys.filter((r) => r.op === 'INSERT').length >= 3, `every new key was captured (${keys.length} writes)`)
  t.ok(secrets.length >= 1, `the service secrets' writes were captured (${secrets.length})`)
  for (const row of rows) {
    t.notMatch(row.value, /PRIVATE KEY/, `${row.op} into ${row.tbl}: no PEM`)
    t.match(row.value, /^enc:v1:[\w-]+$/, `${row.op} into ${row.tbl}: sealed as written`)
  }
})
