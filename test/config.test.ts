import { randomBytes } from 'node:crypto'
import t from 'tap'
import { build, testEnv } from './support/index.js'

t.test('a bad configuration value stops start-up with a message naming the variable', async (t) => {
  const cases: Record<string, string> = {
    ACCESS_TOKEN_TTL: 'abc',
    DATABASE_URL: 'mysql://localhost/auth',
    JWT_SECRET: 'too-short',
    ARGON2_MEMORY_KIB: '1024',
    ADMIN_PASSWORD: 'short',
    JWT_ALGORITHM: 'HS384'
  }
  for (const [name, value] of Object.entries(cases)) {
    await t.rejects(build(t, testEnv(t, { [name]: value })), { message: new RegExp(`env/${name}\\b`) }, `${name}=${value}`)
  }
})

t.test('rules between variables name the variable', async (t) => {
  await t.rejects(build(t, testEnv(t, { JWT_ALGORITHM: 'HS256' })), { message: 'env/JWT_SECRET is required when JWT_ALGORITHM is HS256' })
  await t.rejects(build(t, testEnv(t, { JWT_SECRET: randomBytes(32).toString('hex') })), { message: /^env\/JWT_ALGORITHM must be HS256 when JWT_SECRET is set/ })
})

t.test('defaults apply when nothing is set', async (t) => {
  const app = await build(t)
  t.equal(app.config.ACCESS_TOKEN_TTL, 900)
  t.equal(app.config.JWT_ISSUER, 'auth-service')
  t.equal(app.config.ARGON2_MEMORY_KIB, 19456)
  t.equal(app.config.JWT_SECRET, undefined)
  t.equal(app.config.JWT_ALGORITHM, 'ES256')
})

t.test('values are read and typed', async (t) => {
  const app = await build(t, testEnv(t, { ACCESS_TOKEN_TTL: '60', JWT_ISSUER: 'https://auth.example' }))
  t.equal(app.config.ACCESS_TOKEN_TTL, 60)
  t.equal(app.config.JWT_ISSUER, 'https://auth.example')
})
