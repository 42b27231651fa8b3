import { chmodSync, chownSync, linkSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import t from 'tap'
import { buildWithLogs, login, PASSWORD, testEnv, type Env } from './support/index.js'

const mode = (path: string) => (statSync(path).mode & 0o777).toString(8)

// A configuration whose database lives in `name`, a folder under the test's own directory.
function envIn (t: Parameters<typeof testEnv>[0], name: string, overrides: Env = {}): { env: Env, dir: string } {
  const base = testEnv(t) // makes the test's directory (once: t.testdir() starts it afresh)
  const dir = join(dirname(base.ADMIN_PASSWORD_FILE!), name)
  return { dir, env: { ...base, DATABASE_URL: `sqlite:${join(dir, 'auth.db')}`, ...overrides } }
}

t.test('a fresh start makes the data folder 0700 and every file in it 0600', async (t) => {
  const { dir: data, env } = envIn(t, 'data') // absent: the service creates it
  const { app } = await buildWithLogs(t, { ...env, ADMIN_PASSWORD_FILE: join(data, 'admin-password.txt') })
  const password = readFileSync(join(data, 'admin-password.txt'), 'utf8').trim()
  t.equal((await login(app, 'admin', password)).statusCode, 200) // writes: the WAL and SHM exist now
  t.equal(mode(data), '700', 'the folder')
  const files = readdirSync(data).sort()
  t.same(files, ['admin-password.txt', 'auth.db', 'auth.db-shm', 'auth.db-wal'])
  for (const file of files) t.equal(mode(join(data, file)), '600', file)
})

t.test('a start over a folder of its own with loose modes tightens them, with one log line each', async (t) => {
  const { dir: data, env } = envIn(t, 'data', { ADMIN_PASSWORD: PASSWORD })
  const first = await buildWithLogs(t, env)
  t.equal((await login(first.app, 'admin', PASSWORD)).statusCode, 200)
  await first.app.close()
  chmodSync(data, 0o755)
  for (const file of readdirSync(data)) chmodSync(join(data, file), 0o644)

  const { app, lines } = await buildWithLogs(t, env)
  t.equal(mode(data), '700', 'the folder tightened')
  for (const file of readdirSync(data)) t.equal(mode(join(data, file)), '600', `${file} tightened`)
  const notices = lines.map((l) => JSON.parse(l)).filter((l) => /^tightened/.test(l.msg))
  t.ok(notices.some((l) => l.msg === `tightened the service's folder ${data} from 755 to 700`), 'the folder, logged')
  t.ok(notices.some((l) => l.msg === `tightened ${join(data, 'auth.db')} from 644 to 600`), 'the database, logged')
  t.equal((await login(app, 'admin', PASSWORD)).statusCode, 200, 'and the service works')
})

t.test('a shared folder is never tightened, only warned about', async (t) => {
  const { dir: shared, env } = envIn(t, 'shared', { ADMIN_PASSWORD: PASSWORD })
  mkdirSync(shared, { mode: 0o777 })
  chmodSync(shared, 0o1777) // sticky and world-writable, as /tmp is
  writeFileSync(join(shared, 'someone-elses-file'), 'x')
  const { app, lines } = await buildWithLogs(t, env)
  t.equal((statSync(shared).mode & 0o7777).toString(8), '1777', 'left as it was')
  t.equal(mode(join(shared, 'auth.db')), '600', 'our own file in it is private')
  const warning = lines.map((l) => JSON.parse(l)).find((l) => l.level === 40 && l.path === shared)
  t.match(warning?.msg, /is 777: other users may list it/, 'a warning names the folder')
  t.equal((await login(app, 'admin', PASSWORD)).statusCode, 200)
})

// Files someone else could have made first in a shared folder: refused, never used or written through.
const NOBODY = 65534

t.test('a database file or WAL that belongs to another user stops the start', async (t) => {
  for (const file of ['auth.db', 'auth.db-wal', 'auth.db-shm']) {
    const { dir: shared, env } = envIn(t, `shared-${file}`, { ADMIN_PASSWORD: PASSWORD })
    mkdirSync(shared)
    chmodSync(shared, 0o1777)
    writeFileSync(join(shared, file), '')
    chownSync(join(shared, file), NOBODY, NOBODY)
    chmodSync(join(shared, file), 0o666)
    const refused = await buildWithLogs(t, env).catch((err: Error) => err)
    t.match(String(refused), `${join(shared, file)} belongs to another user (uid ${NOBODY}): refusing to use it`, file)
    t.equal(statSync(join(shared, file)).uid, NOBODY, `${file}: left as it was`)
  }
})

t.test('a symbolic link where the admin password file goes is refused; its target is untouched', async (t) => {
  const { dir, env } = envIn(t, 'data')
  mkdirSync(dir, { mode: 0o700 })
  const target = join(dir, 'precious.conf')
  writeFileSync(target, 'precious\n', { mode: 0o644 })
  symlinkSync(target, join(dir, 'admin-password.txt'))
  const refused = await buildWithLogs(t, { ...env, ADMIN_PASSWORD_FILE: join(dir, 'admin-password.txt') }).catch((err: Error) => err)
  t.match(String(refused), /admin-password.txt is not a regular file \(a symbolic link\?\): refusing to use it/)
  t.equal(readFileSync(target, 'utf8'), 'precious\n', 'the target was not written')
  t.equal(mode(target), '644', 'nor its mode changed')
})

t.test('an admin password file left with loose modes is tightened at start, even where the folder is shared', async (t) => {
  const { dir, env } = envIn(t, 'data')
  const passwordFile = join(dir, 'admin-password.txt')
  const first = await buildWithLogs(t, { ...env, ADMIN_PASSWORD_FILE: passwordFile })
  await first.app.close()
  chmodSync(dir, 0o755)
  chmodSync(passwordFile, 0o644)
  writeFileSync(join(dir, 'notes.txt'), 'someone else was here') // not only the service's files: not tightened
  const { lines } = await buildWithLogs(t, { ...env, ADMIN_PASSWORD_FILE: passwordFile })
  t.equal(mode(passwordFile), '600', 'tightened')
  t.ok(lines.some((l) => JSON.parse(l).msg === `tightened ${passwordFile} from 644 to 600`), 'and logged')
  t.equal(mode(dir), '755', 'the folder, holding another file, is only warned about')
})

t.test('a hard link in place of the database, to a file of this user elsewhere, is refused', async (t) => {
  const { dir, env } = envIn(t, 'data', { ADMIN_PASSWORD: PASSWORD })
  mkdirSync(dir, { mode: 0o700 })
  const elsewhere = join(dirname(dir), 'precious.bin')
  writeFileSync(elsewhere, 'not a database', { mode: 0o644 })
  linkSync(elsewhere, join(dir, 'auth.db'))
  const refused = await buildWithLogs(t, env).catch((err: Error) => err)
  t.match(String(refused), `${join(dir, 'auth.db')} has 2 names (hard links): refusing to use it`)
  t.equal(mode(elsewhere), '644', 'the other file is untouched')
})
