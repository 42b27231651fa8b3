import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import t from 'tap'
import { addUser, build, greet, loginTokens, PASSWORD, refresh, testEnv } from './support/index.js'

const KEY = randomBytes(24).toString('base64url') // 32 characters

t.test('with KEY_ENCRYPTION_KEY, private keys and secrets are not stored in the clear, and everything works', async (t) => {
  const env = testEnv(t, { KEY_ENCRYPTION_KEY: KEY })
  const app = await build(t, env)
  await addUser(app, 'alice', PASSWORD)
  const first = await loginTokens(app, 'alice', PASSWORD)
  t.equal((await greet(app, `Bearer ${first.token}`)).statusCode, 200, 'signs and verifies')
  const next = await refresh(app, first.refreshToken)
  t.equal(next.statusCode, 200, 'refresh works (the successor key is a sealed secret too)')
  const keys = await app.db.selectFrom('signing_keys').select('private_key').execute()
  t.ok(keys.length > 0)
  for (const { private_key: stored } of keys) {
    t.notMatch(stored, /PRIVATE KEY/, 'not PEM')
    t.match(stored, /^enc:v1:[\w-]+$/, 'sealed')
  }
  const secrets = await app.db.selectFrom('service_secrets').select('value').execute()
  t.ok(secrets.length > 0 && secrets.every((s) => s.value.startsWith('enc:v1:')), 'service secrets sealed')
  await app.close()

  const again = await build(t, env)
  t.equal((await greet(again, `Bearer ${next.json().token}`)).statusCode, 200, 'after a restart with the same key, tokens still verify')
  t.equal((await refresh(again, next.json().refreshToken)).statusCode, 200, 'and refresh tokens still refresh')
  await again.close()

  const wrong = await build(t, { ...env, KEY_ENCRYPTION_KEY: randomBytes(24).toString('base64url') }).catch((err: Error) => err)
  t.match(String(wrong), /env\/KEY_ENCRYPTION_KEY does not decrypt the signing keys in the store/, 'a wrong key stops the start')
  const none = await build(t, { ...env, KEY_ENCRYPTION_KEY: undefined }).catch((err: Error) => err)
  t.match(String(none), /env\/KEY_ENCRYPTION_KEY is required: the signing keys in the store are encrypted/, 'so does a missing one')
})

t.test('setting KEY_ENCRYPTION_KEY later encrypts the existing keys in place, logging nobody out', async (t) => {
  const env = testEnv(t)
  const before = await build(t, env)
  await addUser(before, 'alice', PASSWORD)
  const tokens = await loginTokens(before, 'alice', PASSWORD)
  t.match((await before.db.selectFrom('signing_keys').select('private_key').executeTakeFirstOrThrow()).private_key, /PRIVATE KEY/, 'in the clear before')
  await before.close()

  const after = await build(t, { ...env, KEY_ENCRYPTION_KEY: KEY })
  t.match((await after.db.selectFrom('signing_keys').select('private_key').executeTakeFirstOrThrow()).private_key, /^enc:v1:/, 'sealed after')
  t.equal((await greet(after, `Bearer ${tokens.token}`)).statusCode, 200, 'the old token still verifies')
  t.equal((await refresh(after, tokens.refreshToken)).statusCode, 200, 'and the old refresh token refreshes')
})

t.test('once KEY_ENCRYPTION_KEY is set, no copy of a private key is left in the clear in the database files', async (t) => {
  const env = testEnv(t)
  const file = env.DATABASE_URL!.slice('sqlite:'.length)
  const before = await build(t, env)
  await before.keys.rotate() // two keys in the clear
  await before.close()
  const onDisk = () => ['', '-wal', '-shm'].map((suffix) => { try { return readFileSync(file + suffix).toString('latin1') } catch { return '' } }).join('')
  t.match(onDisk(), /PRIVATE KEY/, 'in the clear before')

  const after = await build(t, { ...env, KEY_ENCRYPTION_KEY: KEY })
  t.notMatch(onDisk(), /PRIVATE KEY/, 'while the service runs, not in the database file, its WAL or its SHM')
  await addUser(after, 'alice', PASSWORD)
  t.equal((await greet(after, `Bearer ${(await loginTokens(after, 'alice', PASSWORD)).token}`)).statusCode, 200)
})
