import { hash } from '@node-rs/argon2'
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { addUser, build, login, testEnv } from './helper.js'

const PASSWORD = 'correct horse battery staple'

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
