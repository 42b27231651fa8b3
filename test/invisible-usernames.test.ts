// Invisible characters in usernames, over Unicode's own list of Default_Ignorable_Code_Point
// (test/fixtures/default-ignorable-code-points.txt) and the Hangul fillers: refused in every new name,
// whichever way it is made; ignored by the look-alike skeletons, old names' skeletons recomputed by a
// migration; old names still log in; `users lookalikes` reports what the store already holds.
import { hash } from '@node-rs/argon2'
import SQLite from 'better-sqlite3'
import type { FastifyInstance } from 'fastify'
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely'
import pg from 'pg'
import t from 'tap'
import { migrateUpTo } from '../src/store/migrations.js'
import { casedSkeletons, usernameProblem, usernameSkeleton } from '../src/text/usernames.js'
import { DEFAULT_IGNORABLES, FILLERS, hex, RANGES, STATED_TOTAL, UNICODE_VERSION } from './support/default-ignorables.js'
import { bearer, build, cli, greet, login, loginTokens, PASSWORD, testDatabase, testEnv } from './support/index.js'

const invisible = (c: string) => `username must not contain invisible characters (it holds ${hex(c)})`
const TAKEN = { statusCode: 409, error: 'Conflict', message: 'Username is already taken or too similar to an existing one', code: 'conflict' }

// A name with the character at the start, in the middle, at the end, and twice.
const placed = (c: string): string[] => [`${c}admin`, `adm${c}in`, `admin${c}`, `ad${c}${c}min`]

const signup = (app: FastifyInstance, username: string) =>
  app.inject({ method: 'POST', url: '/signup', payload: { username, password: PASSWORD } })

async function names (app: FastifyInstance): Promise<string[]> {
  return (await app.accounts.list()).map((u) => u.username).sort()
}

t.test('the pinned list is the one Unicode prints, and holds the Hangul fillers as letters', async (t) => {
  t.equal(UNICODE_VERSION, '17.0.0')
  t.equal(DEFAULT_IGNORABLES.length, STATED_TOTAL, `every range read (${RANGES.length} ranges, ${STATED_TOTAL} code points, as the file's total says)`)
  t.equal(new Set(DEFAULT_IGNORABLES).size, DEFAULT_IGNORABLES.length, 'no code point twice')
  for (const filler of FILLERS) {
    t.ok(DEFAULT_IGNORABLES.includes(filler), `${hex(filler)} is default-ignorable`)
    t.match(filler, /^\p{Lo}$/u, `${hex(filler)} is a letter: the old rules let it into names`)
  }
})

t.test('usernameProblem refuses every default-ignorable code point, at the start, in the middle, at the end', async (t) => {
  const wrong: string[] = []
  for (const c of DEFAULT_IGNORABLES) {
    for (const name of placed(c)) if (usernameProblem(name) !== invisible(c)) wrong.push(`${hex(c)} in ${JSON.stringify(name)}: ${usernameProblem(name)}`)
  }
  t.same(wrong.slice(0, 20), [], `each of the ${DEFAULT_IGNORABLES.length} refused in each place, naming it (${wrong.length} not)`)
  t.equal(usernameProblem('admin'), undefined, 'the name without it is fine')
})

t.test('signup refuses every default-ignorable code point in a new name (400), beside admin or not; nothing is made', async (t) => {
  const app = await build(t, testEnv(t, { SIGNUP_ENABLED: 'true' }))
  t.same(await names(app), ['admin'])
  for (const [name, c] of [['admin\u3164', '\u3164'], ['\u115fadmin', '\u115f'], ['adm\u1160in', '\u1160'], ['admin\uffa0', '\uffa0']]) {
    const res = await signup(app, name)
    t.equal(res.statusCode, 400, `${JSON.stringify(name)} beside admin`)
    t.same(res.json(), { statusCode: 400, error: 'Bad Request', message: invisible(c), code: 'validation_failed' })
  }
  // One request a code point (usernameProblem is checked at every place above), the place taking turns.
  const wrong: string[] = []
  for (const [i, c] of DEFAULT_IGNORABLES.entries()) {
    const name = [...placed(c), `zed${c}`][i % 5]
    const res = await signup(app, name)
    if (res.statusCode !== 400 || res.json().message !== invisible(c)) wrong.push(`${hex(c)} in ${JSON.stringify(name)}: ${res.statusCode} ${res.body}`)
  }
  t.same(wrong.slice(0, 20), [], `each refused (${wrong.length} not)`)
  t.same(await names(app), ['admin'], 'nothing was created')
  t.equal((await signup(app, 'zed')).statusCode, 201, 'the same name without it signs up')
})

t.test('the CLI (users add) and ADMIN_USERNAME refuse a name with an invisible character', async (t) => {
  const env = testEnv(t)
  // A process a name (seconds each on a busy machine), one after the other (the first makes the store):
  // a filler, and two other kinds of invisible character. usernameProblem, which the CLI calls, is checked
  // over the whole list above.
  for (const [name, c] of [['admin\u3164', '\u3164'], ['\u200bcarol', '\u200b'], ['car\u{E0020}ol', '\u{E0020}']]) {
    const res = await cli(env, ['users', 'add', name], `${PASSWORD}\n`)
    t.equal(res.code, 1, `users add ${JSON.stringify(name)}: exit 1`)
    t.equal(res.stderr, `error: ${invisible(c)}\n`, 'one line saying why')
  }
  t.equal((await cli(env, ['users', 'list'])).stdout.trim().split('\n').length, 1, 'only the first admin exists')
  for (const c of FILLERS) {
    await t.rejects(build(t, testEnv(t, { ADMIN_USERNAME: `root${c}`, ADMIN_PASSWORD: 'first-password-1' })), { message: invisible(c) }, `ADMIN_USERNAME root${hex(c)}`)
  }
})

t.test('skeletons ignore every default-ignorable code point: admin with any of them looks like admin', async (t) => {
  const admin = { key: usernameSkeleton('admin'), ...casedSkeletons('admin') }
  const wrong: string[] = []
  for (const c of DEFAULT_IGNORABLES) {
    for (const name of placed(c)) {
      const got = { key: usernameSkeleton(name), ...casedSkeletons(name) }
      if (JSON.stringify(got) !== JSON.stringify(admin)) wrong.push(`${hex(c)} in ${JSON.stringify(name)}: ${JSON.stringify(got)}`)
    }
  }
  t.same(wrong.slice(0, 20), [], `every one meets admin (${wrong.length} not)`)
})

// A user row written straight into the store, as an older version (or a bypass) left it.
async function insertUser (db: Kysely<any>, row: { id: string, username: string, createdAt: string, skeletons?: { key: string, display: string, upper: string } }, passwordHash: string) {
  const s = row.skeletons ?? { key: usernameSkeleton(row.username), ...casedSkeletons(row.username) }
  await db.insertInto('users').values({
    id: row.id,
    username: row.username,
    username_key: row.username.normalize('NFKC').toLowerCase(),
    username_skeleton: s.key,
    username_skeleton_display: s.display,
    username_skeleton_upper: s.upper,
    password_hash: passwordHash,
    password_normalized: 1,
    roles: '',
    created_at: row.createdAt,
    updated_at: row.createdAt
  }).execute()
}

function connect (url: string): Kysely<any> {
  return new Kysely<any>({
    dialect: testDatabase === 'postgres'
      ? new PostgresDialect({ pool: new pg.Pool({ connectionString: url }) })
      : new SqliteDialect({ database: new SQLite(url.slice('sqlite:'.length)) })
  })
}

t.test('the migration recomputes stored skeletons: a name with a filler already there now blocks its look-alikes; it still logs in', async (t) => {
  const env = testEnv(t, { SIGNUP_ENABLED: 'true', ADMIN_PASSWORD: 'bootstrap-password' })
  // The store as the version before this one left it: carol with a filler, stored NFKC (U+3164 is U+1160
  // there), with the skeletons that version computed (the filler kept).
  const old = connect(env.DATABASE_URL!)
  try {
    await migrateUpTo(old, '0007_username_skeleton_cased')
    const passwordHash = await hash(PASSWORD, { algorithm: 2, memoryCost: 19456, timeCost: 2, parallelism: 1 })
    await insertUser(old, { id: 'u-filler', username: 'carol\u1160', createdAt: new Date().toISOString(), skeletons: { key: 'carol\u1160', display: 'carol\u1160', upper: 'CAROL\u1160' } }, passwordHash)
  } finally {
    await old.destroy()
  }
  const app = await build(t, env)
  const row = await app.db.selectFrom('users').select(['username_skeleton', 'username_skeleton_display', 'username_skeleton_upper']).where('id', '=', 'u-filler').executeTakeFirstOrThrow()
  t.same(row, { username_skeleton: usernameSkeleton('carol'), username_skeleton_display: casedSkeletons('carol').display, username_skeleton_upper: casedSkeletons('carol').upper },
    'its skeletons are those of carol now')
  for (const name of ['carol', 'CAROL', 'c\u0251rol']) {
    const res = await signup(app, name)
    t.equal(res.statusCode, 409, `${name} cannot be made beside it`)
    t.same(res.json(), TAKEN)
  }
  for (const typed of ['carol\u1160', 'carol\u3164', 'CAROL\u3164']) {
    const { token } = await loginTokens(app, typed, PASSWORD)
    t.equal((await app.inject({ method: 'GET', url: '/me', headers: bearer(token) })).json().id, 'u-filler', `${JSON.stringify(typed)} logs in as the old user`)
    t.equal((await greet(app, `Bearer ${token}`)).statusCode, 200)
  }
  t.equal((await login(app, 'carol', PASSWORD)).statusCode, 401, 'carol without the filler is nobody')
})

t.test('users lookalikes: groups of existing names that look alike, invisible characters shown as U+XXXX', async (t) => {
  const env = testEnv(t, { ADMIN_PASSWORD: 'bootstrap-password' })
  const app = await build(t, env)
  const admin = (await app.accounts.find('admin'))!
  t.equal((await cli(env, ['users', 'lookalikes'])).stdout, 'no two names look alike, and none holds an invisible character\n', 'nothing to report at first')

  const passwordHash = await app.passwordHasher.hash(PASSWORD)
  const at = (n: number) => new Date(Date.parse(admin.createdAt) + n * 1000).toISOString()
  for (const row of [
    { id: 'filler-admin', username: 'admin\u1160', createdAt: at(1), skeletons: { key: 'adrnin\u1160', display: 'adrnin\u1160', upper: 'ADMlN\u1160' } }, // as the old version stored it
    { id: 'cased-admin', username: 'ADMlN', createdAt: at(2) }, // a small L: admin in capitals
    { id: 'lone-filler', username: 'bob\u3164', createdAt: at(3) }, // raw, as a bypass could write it: alone, but invisible
    { id: 'carol', username: 'carol', createdAt: at(4) }, // like nobody
    { id: 'dave', username: 'dave', createdAt: at(5) },
    { id: 'dave-cyrillic', username: 'd\u0430ve', createdAt: at(6) },
    { id: 'tag-dave', username: 'dave\u{E0020}', createdAt: at(7) }
  ]) await insertUser(app.db, row, passwordHash)

  const res = await cli(env, ['users', 'lookalikes'])
  t.equal(res.code, 0, res.stderr)
  t.equal(res.stderr, '')
  t.same(res.stdout.split('\n').slice(0, -1).map((l) => l.split('\t').slice(0, 3)), [
    ['1', admin.id, 'admin'],
    ['1', 'filler-admin', 'admin<U+1160>'],
    ['1', 'cased-admin', 'ADMlN'],
    ['2', 'lone-filler', 'bob<U+3164>'],
    ['3', 'dave', 'dave'],
    ['3', 'dave-cyrillic', 'd\u0430ve'],
    ['3', 'tag-dave', 'dave<U+E0020>']
  ], 'group, id, name as shown: groups in the order of their first user; carol is not listed')
  for (const line of res.stdout.trim().split('\n')) t.match(line.split('\t').slice(3), [/^(enabled|disabled)$/, /^\d{4}-\d\d-\d\dT/], 'then enabled or disabled, and created')
  t.equal((await login(app, 'bob\u3164', PASSWORD)).statusCode, 200, 'reported users still log in')
})
