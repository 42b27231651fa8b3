import { hash, parseOptions, verify } from '@node-rs/argon2'
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { addUser, build, login, PASSWORD, testEnv } from './support/index.js'

async function storedHash (app: FastifyInstance, username: string) {
  const row = await app.db.selectFrom('users').select('password_hash').where('username_key', '=', username).executeTakeFirstOrThrow()
  return row.password_hash
}

t.test('the stored hash is argon2id with the configured parameters, not the password', async (t) => {
  const app = await build(t)
  await addUser(app, 'alice', PASSWORD)
  const stored = await storedHash(app, 'alice')
  t.match(stored, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$[\w+/]+\$[\w+/]+$/)
  t.notMatch(stored, PASSWORD)
  t.not(await storedHash(app, 'alice'), (await addUser(app, 'bob', PASSWORD)).passwordHash, 'salted: same password, different hash')
})

t.test('a hash weaker than the configuration is upgraded at the next successful login', async (t) => {
  const app = await build(t)
  const user = await addUser(app, 'alice', PASSWORD)
  // As if made by an older release with lower parameters (algorithm 2 = argon2id).
  const weak = await hash(PASSWORD, { algorithm: 2, memoryCost: 8192, timeCost: 1, parallelism: 1 })
  await app.db.updateTable('users').set({ password_hash: weak }).where('id', '=', user.id).execute()

  t.equal((await login(app, 'alice', 'wrong password')).statusCode, 401)
  t.equal(await storedHash(app, 'alice'), weak, 'a failed login changes nothing')

  t.equal((await login(app, 'alice', PASSWORD)).statusCode, 200, 'the weak hash still verifies')
  const upgraded = await storedHash(app, 'alice')
  t.match(upgraded, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/, 'rehashed with the configured parameters')
  t.equal((await login(app, 'alice', PASSWORD)).statusCode, 200, 'and the new hash verifies')
  t.equal(await storedHash(app, 'alice'), upgraded, 'a hash at the configured strength is left alone')
})

t.test('raising the configured parameters upgrades existing users as they log in', async (t) => {
  const env = testEnv(t)
  const before = await build(t, env)
  await addUser(before, 'alice', PASSWORD)
  await before.close()

  const after = await build(t, { ...env, ARGON2_MEMORY_KIB: '24576', ARGON2_TIME_COST: '3' })
  t.equal((await login(after, 'alice', PASSWORD)).statusCode, 200)
  t.match(await storedHash(after, 'alice'), /^\$argon2id\$v=19\$m=24576,t=3,p=1\$/)
})

t.test('password length is counted in code points, not UTF-16 units', async (t) => {
  const app = await build(t, testEnv(t, { SIGNUP_ENABLED: 'true' }))
  const signup = (username: string, password: string) => app.inject({ method: 'POST', url: '/signup', payload: { username, password } })
  const fourEmoji = '🔑🔒🗝️🔐'.replace('\uFE0F', '') // 4 code points, 8 UTF-16 units
  t.equal(fourEmoji.length, 8, 'eight UTF-16 units')
  const short = await signup('emoji1', fourEmoji)
  t.equal(short.statusCode, 400, 'four emoji are four characters: too short')
  t.match(short.json().message, /at least 8 characters/)
  t.equal((await signup('emoji2', fourEmoji.repeat(2))).statusCode, 201, 'eight emoji are eight characters: enough')
  t.equal((await login(app, 'emoji2', fourEmoji.repeat(2))).statusCode, 200)
})

t.test('NFC and NFD spellings of a password are the same password', async (t) => {
  const app = await build(t)
  const nfc = 'café crème brûlée'.normalize('NFC')
  const nfd = nfc.normalize('NFD')
  t.not(nfc, nfd, 'two different strings')
  await addUser(app, 'alice', nfc)
  await addUser(app, 'bob', nfd)
  for (const user of ['alice', 'bob']) {
    t.equal((await login(app, user, nfc)).statusCode, 200, `${user} with NFC`)
    t.equal((await login(app, user, nfd)).statusCode, 200, `${user} with NFD`)
  }
  const fullWidth = 'ｔｉｄｅ ｐｏｏｌ ４２' // NFKC: tide pool 42
  await addUser(app, 'carol', fullWidth)
  t.equal((await login(app, 'carol', 'tide pool 42')).statusCode, 200, 'compatibility forms too (NFKC)')
})

t.test('a hash made before normalisation verifies its own form once, and is upgraded at login', async (t) => {
  const app = await build(t)
  const user = await addUser(app, 'alice', PASSWORD)
  const nfd = 'crème brûlée à la carte'.normalize('NFD')
  // As an older release stored it: the raw (here NFD) password, no normalisation flag.
  const old = await hash(nfd, { algorithm: 2, memoryCost: 19456, timeCost: 2, parallelism: 1 })
  await app.db.updateTable('users').set({ password_hash: old, password_normalized: 0 }).where('id', '=', user.id).execute()

  const before = app.passwordHasher.verifications
  t.equal((await login(app, 'alice', 'wrong password')).statusCode, 401)
  t.equal(app.passwordHasher.verifications - before, 1, 'one verification per login, not one per form')
  t.equal((await login(app, 'alice', nfd)).statusCode, 200, 'the old user logs in with the password as typed')
  const row = await app.db.selectFrom('users').select(['password_hash', 'password_normalized']).where('id', '=', user.id).executeTakeFirstOrThrow()
  t.equal(row.password_normalized, 1, 'marked normalised')
  t.not(row.password_hash, old, 'rehashed')
  t.equal((await login(app, 'alice', nfd.normalize('NFC'))).statusCode, 200, 'now the NFC spelling works too')
  t.equal((await login(app, 'alice', nfd)).statusCode, 200, 'and the NFD one still does')
})

t.test('every login, known name or not, is one argon2 verification of the typed password, at the cost of a real hash, in the queue as its own', async (t) => {
  // Observed at the hasher the service uses (app.passwordHasher, the one Accounts verifies with): what is
  // verified, against what, and where in the queue. Without the dummy hash, or with a cheaper or malformed
  // one, an unknown name would cost less than a known one, and its answer time would tell.
  const app = await build(t)
  await addUser(app, 'alice', PASSWORD)
  await addUser(app, 'carol', PASSWORD)
  await app.accounts.setDisabledByName('carol', true)
  const real = parseOptions(await storedHash(app, 'alice'))
  const verifications = t.capture(app.passwordHasher, 'verify', app.passwordHasher.verify)
  const cases: Array<[string, string, string, number]> = [
    ['known user, right password', 'alice', PASSWORD, 200],
    ['known user, wrong password', 'alice', 'not the password', 401],
    ['disabled user, right password', 'carol', PASSWORD, 401],
    ['unknown user', 'nobody-by-that-name', 'not the password', 401],
    ["unknown user, a real user's password", 'nobody-else', PASSWORD, 401],
    ['unknown user, a decomposed accent', 'no-one', 'crème brûlée à la carte'.normalize('NFD'), 401]
  ]
  const dummies = new Set<string>()
  for (const [i, [what, username, password, status]] of cases.entries()) {
    const address = `198.51.100.${i + 1}`
    const res = await app.inject({ method: 'POST', url: '/login', remoteAddress: address, payload: { username, password } })
    t.equal(res.statusCode, status, `${what}: ${status}`)
    const calls = verifications()
    t.equal(calls.length, 1, `${what}: one verification`)
    const [against, typed, flow] = calls[0].args
    t.equal(typed, password.normalize('NFKC'), `${what}: of the password as typed (normalised)`)
    t.same(parseOptions(against), real, `${what}: against an argon2id hash of the same parameters as a real user's`)
    t.equal(await verify(against, typed), status === 200 || what.startsWith('disabled'), `${what}: a hash argon2 verifies (not a malformed one, refused at once)`)
    t.same(flow, { keys: [`c:${address}`, `a:${app.audit.nameHash(username)}`], suspect: false }, `${what}: queued as the typed name's login from its address`)
    if (username.startsWith('no')) dummies.add(against)
    else t.equal(against, await storedHash(app, username), `${what}: against the user's own hash`)
  }
  t.equal(dummies.size, 1, 'unknown users: always the one dummy hash')
})

t.test('a password is measured after normalisation, and must be valid Unicode', async (t) => {
  const app = await build(t, testEnv(t, { SIGNUP_ENABLED: 'true' }))
  const signup = (username: string, password: string) => app.inject({ method: 'POST', url: '/signup', payload: { username, password } })
  const shortNfd = 'éééé'.normalize('NFD') // 8 code points as sent, 4 once normalised
  t.equal([...shortNfd].length, 8)
  t.equal((await signup('nfd-user', shortNfd)).statusCode, 400, 'four characters in any spelling are too short')
  t.equal((await signup('nfc-user', 'éééé')).statusCode, 400, 'the NFC spelling gets the same answer')
  t.equal((await signup('ligature', 'ﬀﬀﬀﬀ')).statusCode, 400, 'four ligatures are four characters typed (eight once normalised): the shorter count')
  t.equal((await signup('ligatures', 'ﬀﬁﬂﬃﬄﬅﬆﬀ')).statusCode, 201, 'eight are enough (not all one: eight ﬀ are one letter repeated)')
  const lone = '\ud800'.repeat(8) + 'abc'
  const res = await signup('surrogate', lone)
  t.equal(res.statusCode, 400, 'a lone surrogate is refused')
  t.match(res.json().message, /valid Unicode/)
})

t.test('bytes that are not UTF-8 in a new password are refused, not hashed as U+FFFD', async (t) => {
  const app = await build(t, testEnv(t, { SIGNUP_ENABLED: 'true' }))
  for (const bytes of [Buffer.from([0xed, 0xa0, 0x80]), Buffer.from([0xff]), Buffer.from([0xc0, 0xaf])]) {
    const body = Buffer.concat([Buffer.from('{"username":"bytes","password":"abcdefgh'), bytes, Buffer.from('"}')])
    const res = await app.inject({ method: 'POST', url: '/signup', headers: { 'content-type': 'application/json' }, payload: body })
    t.equal(res.statusCode, 400, bytes.toString('hex'))
    t.match(res.json().message, /not UTF-8/)
  }
  t.equal((await app.inject({ method: 'POST', url: '/signup', payload: { username: 'bytes', password: 'abcdefgh\uFFFD' } })).statusCode, 400, 'nor U+FFFD itself')
})
