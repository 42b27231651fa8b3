import { hash } from '@node-rs/argon2'
import SQLite from 'better-sqlite3'
import type { FastifyInstance } from 'fastify'
import { Kysely, PostgresDialect, SqliteDialect } from 'kysely'
import pg from 'pg'
import t from 'tap'
import { migrateUpTo } from '../src/store/migrations.js'
import { casedSkeletons, KNOWN_SCRIPTS, skeleton, usernameProblem, usernameSkeleton } from '../src/text/usernames.js'
import { bearer, build, cli, greet, login, loginTokens, PASSWORD, testDatabase, testEnv } from './support/index.js'

const TAKEN = { statusCode: 409, error: 'Conflict', message: 'Username is already taken or too similar to an existing one', code: 'conflict' }
const MIXED = (scripts: string) => ({
  statusCode: 400, error: 'Bad Request', message: `username mixes letters of different scripts (${scripts}): use letters of one script`, code: 'validation_failed'
})

const signup = (app: FastifyInstance, username: string) =>
  app.inject({ method: 'POST', url: '/signup', payload: { username, password: PASSWORD } })

// The names of the users in the store, as stored.
async function names (app: FastifyInstance): Promise<string[]> {
  return (await app.accounts.list()).map((u) => u.username).sort()
}

t.test('skeleton (UTS #39 §4, confusables.txt 10.0): look-alikes of admin share one key, case and all', async (t) => {
  t.equal(skeleton('\u0430'), 'a', 'Cyrillic а → a: the published prototype')
  t.equal(skeleton('m'), 'rn', 'the standard skeleton: m → rn')
  t.equal(skeleton('0'), 'O', 'prototypes may be capitals')
  const admin = usernameSkeleton('admin')
  for (const name of ['\u0430dmin', '\u0391dmin', 'ADMIN', 'Admin', 'ADM\u0130N', 'adm\u0131n', '\u0251dmin', 'adrnin', 'ａｄｍｉｎ', 'adm\u0456n']) {
    t.equal(usernameSkeleton(name), admin, `${name} (${[...name].map((c) => c.codePointAt(0)!.toString(16)).join(' ')}) looks like admin`)
  }
  t.equal(usernameSkeleton('f00'), usernameSkeleton('foo'), 'a capital prototype (0 → O) meets its lower case')
  t.equal(usernameSkeleton('\u0441\u043e\u0441\u043e\u0430'), usernameSkeleton('cocoa'), 'a whole-Cyrillic look-alike of a Latin name')
  for (const [a, b] of [['admin', 'odmin'], ['alice', 'alicia'], ['иван', 'ivan']]) t.not(usernameSkeleton(a), usernameSkeleton(b), `${a} and ${b} differ`)
})

t.test('every character: the key settles within its rounds, and every letter, digit and mark has a known script', async (t) => {
  const commonOrInherited = /^[\p{Script_Extensions=Common}\p{Script_Extensions=Inherited}]$/u
  const soft = /(\p{Soft_Dotted})\u0307/gu
  let unsettled = 0
  let unscripted = 0
  for (let cp = 0; cp <= 0x10ffff; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue
    const c = String.fromCodePoint(cp)
    if (!/^[\p{L}\p{N}\p{M}]$/u.test(c)) continue
    if (!commonOrInherited.test(c) && !KNOWN_SCRIPTS.some(([, pattern]) => pattern.test(c))) unscripted++
    let key = ('a' + c + 'b').normalize('NFKC').toLowerCase()
    let rounds = 0
    for (;;) {
      const next = skeleton(key).toLowerCase().replace(soft, '$1')
      if (next === key) break
      key = next
      if (++rounds > 7) { unsettled++; break }
    }
  }
  t.equal(unsettled, 0, 'usernameSkeleton reaches a fixed point within its 8 rounds')
  t.equal(unscripted, 0, 'no script this engine knows is missing from the list')
})

t.test('the rules for new names: one script (UTS #39 §5.2 Highly Restrictive), one digit system', async (t) => {
  for (const ok of ['иван', 'ΑΘΗΝΑ', '山田太郎', 'やまだ', '山田たろう', 'カタカナ山田abc', 'yamada山田', '김철수', '홍길동kim', 'ㄅㄆ山',
    'bob_1.x@y-z', 'José', 'سلام١١', 'ab12']) {
    t.equal(usernameProblem(ok), undefined, `${ok} is allowed`)
  }
  for (const [bad, scripts] of [['p\u0430ypal', 'Cyrillic, Latin'], ['\u0430dmin', 'Cyrillic, Latin'], ['\u0391dmin', 'Greek, Latin'],
    ['ivanиван', 'Cyrillic, Latin'], ['ab\u0661', 'Arabic, Latin'], ['김やまだ', 'Hangul, Hiragana'], ['αβγabc', 'Greek, Latin']]) {
    t.equal(usernameProblem(bad), MIXED(scripts).message, bad)
  }
  t.equal(usernameProblem('سلام\u0661\u06f1'), 'username mixes digits of different numbering systems', 'Arabic-Indic and Extended Arabic-Indic ones')
})

t.test('signup with admin existing: look-alikes are refused, 400 when they mix scripts, 409 otherwise; no look-alike is ever greeted', async (t) => {
  const app = await build(t, testEnv(t, { SIGNUP_ENABLED: 'true' }))
  t.same(await names(app), ['admin'], 'the bootstrap admin')
  const cases: Array<[string, object]> = [
    ['\u0430dmin', MIXED('Cyrillic, Latin')], // Cyrillic а
    ['\u0391dmin', MIXED('Greek, Latin')], // Greek Α
    ['ADMIN', TAKEN], // the name itself
    ['ADM\u0130N', TAKEN], // Latin capital I with dot above
    ['adm\u0131n', TAKEN], // Latin dotless ı
    ['\u0251dmin', TAKEN], // Latin alpha ɑ
    ['adrnin', TAKEN], // r n
    ['ａｄｍｉｎ', TAKEN] // full-width: NFKC makes it admin
  ]
  for (const [name, answer] of cases) {
    const res = await signup(app, name)
    t.equal(res.statusCode, (answer as { statusCode: number }).statusCode, name)
    t.same(res.json(), answer, `${name}: the body`)
    const attempt = await login(app, name, PASSWORD)
    if (attempt.statusCode === 200) t.not((await greet(app, `Bearer ${attempt.json().token}`)).body, `Welcome, ${name.normalize('NFKC')}!`)
    t.equal(attempt.statusCode, 401, `${name} cannot log in: there is no such user`)
  }
  t.same(await names(app), ['admin'], 'nothing was created')
})

t.test('a whole-script look-alike of an existing name is refused (409), though each is single-script', async (t) => {
  const app = await build(t, testEnv(t, { SIGNUP_ENABLED: 'true' }))
  t.equal((await signup(app, 'cocoa')).statusCode, 201)
  const res = await signup(app, '\u0441\u043e\u0441\u043e\u0430') // all Cyrillic
  t.equal(res.statusCode, 409)
  t.same(res.json(), TAKEN)
})

t.test('a mixed-script name is refused even when nothing looks like it', async (t) => {
  const app = await build(t, testEnv(t, { SIGNUP_ENABLED: 'true' }))
  for (const [name, scripts] of [['p\u0430ypal', 'Cyrillic, Latin'], ['ivanиван', 'Cyrillic, Latin']]) {
    const res = await signup(app, name)
    t.equal(res.statusCode, 400, name)
    t.same(res.json(), MIXED(scripts))
  }
  const digits = await signup(app, 'سلام\u0661\u06f1')
  t.equal(digits.statusCode, 400)
  t.same(digits.json(), { statusCode: 400, error: 'Bad Request', message: 'username mixes digits of different numbering systems', code: 'validation_failed' })
  t.same(await names(app), ['admin'])
})

t.test('genuine names of one script (or an allowed combination) sign up, log in and are greeted', async (t) => {
  const app = await build(t, testEnv(t, { SIGNUP_ENABLED: 'true' }))
  for (const name of ['иван', 'ΑΘΗΝΑ', '山田太郎', 'やまだ', 'yamada山田', '김철수', 'José', 'bob_1.x@y-z']) {
    const res = await signup(app, name)
    t.equal(res.statusCode, 201, `${name}: ${res.body}`)
    t.equal(res.json().username, name)
    const { token } = await loginTokens(app, name, PASSWORD)
    t.equal((await greet(app, `Bearer ${token}`)).body, `Welcome, ${name}!`)
  }
  t.equal((await login(app, 'αθηνα', PASSWORD)).statusCode, 200, 'login ignores case, as before')
})

const variants = ['mail', 'rnail', 'm\u0251il', 'ma\u0131l', 'mai1', 'rn\u0251\u0131l', 'rn\u0251\u01311', 'mai\u01c0', 'm\u0251\u01311', 'rna\u01311']

t.test('ten look-alike signups at once: exactly one is created', async (t) => {
  // End to end, through signup. On a machine with few cores the hashes still space the ten out, so the
  // race between check and insert itself is the next test's subject (the store alone).
  const app = await build(t, testEnv(t, { SIGNUP_ENABLED: 'true', HASH_CONCURRENCY: '10' }))
  t.equal(new Set(variants.map(usernameSkeleton)).size, 1, 'one skeleton')
  t.equal(new Set(variants.map((v) => v.toLowerCase())).size, 10, 'ten different names')
  const results = await Promise.all(variants.map((v) => signup(app, v)))
  const statuses = results.map((r) => r.statusCode)
  t.equal(statuses.filter((s) => s === 201).length, 1, `one created (${statuses.join(' ')})`)
  t.equal(statuses.filter((s) => s === 409).length, 9, 'nine refused as taken')
  for (const r of results.filter((r) => r.statusCode === 409)) t.same(r.json(), TAKEN)
  t.equal((await names(app)).length, 2, 'admin and the one')
})

t.test('the look-alike check and the insert are one step: ten inserts racing, twenty rounds, one user each', async (t) => {
  // The store alone, without hashing to space the racers out: the check and the insert of each must not
  // interleave with another's (PostgreSQL: the advisory lock on the skeleton; SQLite: the write lock).
  const app = await build(t)
  const passwordHash = await app.passwordHasher.hash(PASSWORD)
  for (let round = 0; round < 20; round++) {
    const settled = await Promise.allSettled(variants.map((v) => app.store.users.insert({
      id: `r${round}-${v}`, username: `${v}${round}`, key: `${v}${round}`, skeleton: usernameSkeleton(`${v}${round}`), cased: casedSkeletons(`${v}${round}`), passwordHash, roles: []
    }, new Date().toISOString())))
    const created = settled.filter((s) => s.status === 'fulfilled').length
    const refused = settled.filter((s) => s.status === 'rejected' && (s.reason as Error).message === TAKEN.message).length
    if (created !== 1 || refused !== 9) {
      t.fail(`round ${round}: ${created} created, ${refused} refused as taken: ${settled.map((s) => s.status === 'rejected' ? (s.reason as Error).message : 'created').join('; ')}`)
      return
    }
  }
  t.pass('one created in each of twenty rounds, the other nine refused')
})

t.test('the CLI refuses a look-alike and a mixed-script name (exit 1)', async (t) => {
  const env = testEnv(t)
  t.equal((await cli(env, ['users', 'add', 'cocoa'], 'sweet drink of beans\n')).code, 0)
  const similar = await cli(env, ['users', 'add', '\u0441\u043e\u0441\u043e\u0430'], 'another-password\n')
  t.equal(similar.code, 1, similar.stderr)
  t.match(similar.stderr, /Username is already taken or too similar to an existing one/)
  const mixed = await cli(env, ['users', 'add', 'p\u0430ypal'], 'another-password\n')
  t.equal(mixed.code, 1)
  t.match(mixed.stderr, /mixes letters of different scripts \(Cyrillic, Latin\)/)
  const listed = await cli(env, ['users', 'list'])
  t.notMatch(listed.stdout, /\u0441\u043e\u0441|p\u0430ypal/, 'neither was created')
})

t.test('the first admin is not made beside a look-alike: start-up stops with a clear message', async (t) => {
  const env = testEnv(t, { ADMIN_USERNAME: 'root', ADMIN_PASSWORD: 'first-password-1' })
  const first = await build(t, env)
  await first.accounts.create('\u0251dmin', PASSWORD) // Latin alpha: allowed, and like "admin"
  await first.close()
  await t.rejects(build(t, { ...env, ADMIN_USERNAME: 'admin' }), /ADMIN_USERNAME "admin" looks like the name of an existing user/)
  await t.rejects(build(t, { ...env, ADMIN_USERNAME: 'p\u0430ypal' }), /mixes letters of different scripts/)
})

t.test('a mixed-script user already in the store still logs in: logins apply no new rule', async (t) => {
  const app = await build(t)
  const name = 'p\u0430ypal'
  const now = new Date().toISOString()
  const passwordHash = await app.passwordHasher.hash(PASSWORD)
  await app.db.insertInto('users').values({
    id: 'old-user', username: name, username_key: name, username_skeleton: usernameSkeleton(name), password_hash: passwordHash, password_normalized: 1, created_at: now, updated_at: now
  }).execute()
  const { token } = await loginTokens(app, name, PASSWORD)
  t.equal((await greet(app, `Bearer ${token}`)).body, `Welcome, ${name}!`)
  t.equal((await login(app, name.toUpperCase(), PASSWORD)).statusCode, 200, 'in any case, as before')
})

// A store as the version before 0006 left it, with two users that look alike (one of them mixing scripts).
async function oldStore (url: string): Promise<void> {
  const db = new Kysely<any>({
    dialect: testDatabase === 'postgres'
      ? new PostgresDialect({ pool: new pg.Pool({ connectionString: url }) })
      : new SqliteDialect({ database: new SQLite(url.slice('sqlite:'.length)) })
  })
  try {
    await migrateUpTo(db, '0005_change_log')
    const passwordHash = await hash(PASSWORD, { algorithm: 2, memoryCost: 19456, timeCost: 2, parallelism: 1 })
    const now = new Date().toISOString()
    for (const [id, username] of [['u1', 'carol'], ['u2', '\u0441arol']]) { // the second: Cyrillic с
      await db.insertInto('users').values({
        id, username, username_key: username, password_hash: passwordHash, password_normalized: 1, roles: '', created_at: now, updated_at: now
      }).execute()
    }
  } finally {
    await db.destroy()
  }
}

t.test('migration 0006 backfills the skeletons of existing users; look-alikes already there both keep logging in', async (t) => {
  const env = testEnv(t, { SIGNUP_ENABLED: 'true', ADMIN_PASSWORD: 'bootstrap-password' })
  await oldStore(env.DATABASE_URL!)
  const app = await build(t, env)
  const rows = await app.db.selectFrom('users').select(['username', 'username_skeleton']).orderBy('username').execute()
  t.same(rows, [
    { username: 'admin', username_skeleton: usernameSkeleton('admin') },
    { username: 'carol', username_skeleton: 'carol' },
    { username: '\u0441arol', username_skeleton: 'carol' }
  ], 'every row has its skeleton; the two look-alikes share theirs (the index is not unique)')
  for (const name of ['carol', '\u0441arol', 'CAROL']) t.equal((await login(app, name, PASSWORD)).statusCode, 200, `${name} logs in`)
  const me = await app.inject({ method: 'GET', url: '/me', headers: bearer((await loginTokens(app, '\u0441arol', PASSWORD)).token) })
  t.equal(me.json().id, 'u2', 'the look-alike is its own user')
  const another = await signup(app, 'c\u0251rol') // Latin alpha
  t.equal(another.statusCode, 409, 'no third one can be made')
  t.same(another.json(), TAKEN)
  const cased = await app.db.selectFrom('users').select(['username', 'username_skeleton_display', 'username_skeleton_upper']).where('username', '=', 'carol').execute()
  t.same(cased, [{ username: 'carol', username_skeleton_display: casedSkeletons('carol').display, username_skeleton_upper: casedSkeletons('carol').upper }], 'migration 0007 backfills the cased skeletons')
})

t.test('look-alikes only capitals show: a small L for a capital I (an outside attack\'s case)', async (t) => {
  const app = await build(t, testEnv(t, { SIGNUP_ENABLED: 'true', ADMIN_USERNAME: 'admin', ADMIN_PASSWORD: 'bootstrap-password' }))
  t.equal((await signup(app, 'BILL')).statusCode, 201)
  for (const [name, what] of [['BlLL', 'beside BILL, as shown'], ['ADMlN', 'beside admin, which is ADMIN too'], ['B1LL', 'a digit one for the I']] as const) {
    const res = await signup(app, name)
    t.equal(res.statusCode, 409, `${name}: ${what}`)
    t.same(res.json(), TAKEN)
  }
  t.equal((await signup(app, 'BELL')).statusCode, 201, 'a name that only shares letters is fine')
  t.equal((await signup(app, 'admiral')).statusCode, 201, 'and one that only starts alike')
})
