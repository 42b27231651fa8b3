import { readFile, stat, writeFile } from 'node:fs/promises'
import t from 'tap'
import { buildWithLogs, login, testEnv } from './support/index.js'

t.test('ADMIN_USERNAME and ADMIN_PASSWORD create the user when absent', async (t) => {
  const env = testEnv(t, { ADMIN_USERNAME: 'root', ADMIN_PASSWORD: 'first-password-1' })
  const { app, lines } = await buildWithLogs(t, env)
  t.equal((await login(app, 'root', 'first-password-1')).statusCode, 200)
  t.ok(lines.some((l) => l.includes('created user \\"root\\"')), 'creation is logged')
  t.notOk(lines.some((l) => l.includes('first-password-1')), 'the password is not')
})

t.test('an existing user is never overwritten', async (t) => {
  const env = testEnv(t, { ADMIN_USERNAME: 'root', ADMIN_PASSWORD: 'first-password-1' })
  const first = await buildWithLogs(t, env)
  await first.app.close()

  const second = await buildWithLogs(t, { ...env, ADMIN_PASSWORD: 'second-password-2' })
  t.equal((await login(second.app, 'root', 'first-password-1')).statusCode, 200, 'the first password still works')
  t.equal((await login(second.app, 'root', 'second-password-2')).statusCode, 401, 'the new one was not applied')
  t.notOk(second.lines.some((l) => l.includes('created user')), 'nothing created the second time')
})

t.test('an empty store with no ADMIN_PASSWORD gets admin with a random password in a 0600 file', async (t) => {
  const env = testEnv(t)
  const { app, lines } = await buildWithLogs(t, env)
  const file = env.ADMIN_PASSWORD_FILE!
  const password = (await readFile(file, 'utf8')).trim()
  t.ok(password.length >= 32, 'a long random password')
  t.equal((await stat(file)).mode & 0o777, 0o600, 'readable by its owner only')
  t.equal((await login(app, 'admin', password)).statusCode, 200, 'it logs admin in')
  t.ok(lines.some((l) => l.includes(file)), 'the log says where the password is')
  t.notOk(lines.some((l) => l.includes(password)), 'the log does not contain the password')
})

t.test('a random password is made only for an empty store', async (t) => {
  const env = testEnv(t)
  const first = await buildWithLogs(t, env)
  const password = (await readFile(env.ADMIN_PASSWORD_FILE!, 'utf8')).trim()
  await first.app.close()
  await writeFile(env.ADMIN_PASSWORD_FILE!, 'tampered\n')

  const second = await buildWithLogs(t, env)
  t.equal(await readFile(env.ADMIN_PASSWORD_FILE!, 'utf8'), 'tampered\n', 'the file is left alone')
  t.equal((await login(second.app, 'admin', password)).statusCode, 200, 'the first password still works')
  t.equal(await second.app.accounts.count(), 1)
})

t.test('a random password file that already exists is made private again', async (t) => {
  const env = testEnv(t)
  await writeFile(env.ADMIN_PASSWORD_FILE!, 'old\n', { mode: 0o644 })
  await buildWithLogs(t, env)
  t.equal((await stat(env.ADMIN_PASSWORD_FILE!)).mode & 0o777, 0o600)
})
