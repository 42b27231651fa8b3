// A data path the service cannot use stops the start, and the CLI, in one line naming it, exit 1: a folder
// under /proc (where Node's recursive mkdir spins for ever at full CPU), a folder under a regular file.
// The built service as npm start runs it (fastify-cli), and the built CLI.
import { writeFileSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import t from 'tap'
import { cli, freePort, startService, testEnv, type Env } from './support/index.js'

t.test('an unusable data or password-file path at start: one fatal line naming it, exit 1, within 10 s (the password file: 30 s)', async (t) => {
  // [what, the bad settings (given the test's directory, which holds a regular file `a-file`), the path
  // named, the time allowed]. The database's folder is made as the plugins load (within 10 s);
  // the password file's only after the store is open, the keys made and the first admin created, which on
  // a loaded machine alone can take 10 s: 30 s for it (a hang, as before, is for ever).
  const cases: Array<[string, (dir: string) => Env, (dir: string) => string, number]> = [
    ['a database under /proc', () => ({ DATABASE_URL: 'sqlite:/proc/no-such-folder/auth.db' }), () => '/proc/no-such-folder', 10_000],
    ['a database several folders deep under /proc', () => ({ DATABASE_URL: 'sqlite:/proc/a/b/c/auth.db' }), () => '/proc/a', 10_000],
    ['a database under a regular file', (dir) => ({ DATABASE_URL: `sqlite:${join(dir, 'a-file', 'data', 'auth.db')}` }), (dir) => join(dir, 'a-file'), 10_000],
    ['the admin password file under /proc', () => ({ ADMIN_PASSWORD_FILE: '/proc/no-such-folder/admin-password.txt' }), () => '/proc/no-such-folder', 30_000]
  ]
  for (const [what, bad, named, allowedMs] of cases) {
    const env = testEnv(t) // a fresh test directory each time
    const dir = dirname(env.ADMIN_PASSWORD_FILE!)
    await writeFile(join(dir, 'a-file'), 'x')
    const path = named(dir)
    const started = Date.now()
    const service = startService({ ...env, ...bad(dir) }, await freePort())
    const timer = setTimeout(() => service.child.kill('SIGKILL'), allowedMs)
    t.teardown(() => { clearTimeout(timer); service.child.kill('SIGKILL') })
    const code = await service.exited
    clearTimeout(timer)
    t.equal(code, 1, `${what}: exit 1 after ${Date.now() - started} ms`)
    const fatal = service.output().trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).filter((l) => l.level === 60)
    t.equal(fatal.length, 1, `${what}: one fatal line (${service.output()})`)
    t.match(fatal[0]?.msg, /^start-up failed: /, what)
    t.ok((fatal[0]?.msg as string | undefined)?.includes(path), `${what}: it names ${path} (${fatal[0]?.msg})`)
    t.notMatch(service.output(), /^\s+at /m, `${what}: no stack`)
  }
})

t.test('the CLI on an unusable SQLite path (under /proc, under a regular file): one line naming it, exit 1, within seconds', async (t) => {
  const env = testEnv(t)
  const file = join(dirname(env.ADMIN_PASSWORD_FILE!), 'a-file')
  writeFileSync(file, 'x')
  for (const [url, path] of [['sqlite:/proc/no-such-folder/auth.db', '/proc/no-such-folder'], [`sqlite:${join(file, 'data', 'auth.db')}`, file]]) {
    const started = Date.now()
    const res = await cli({ ...env, DATABASE_URL: url }, ['users', 'list'], '', undefined, 10_000)
    t.equal(res.code, 1, `${url}: exit 1 after ${Date.now() - started} ms`)
    t.match(res.stderr, /^error: /, url)
    t.ok(res.stderr.includes(path), `${url}: it names ${path} (${res.stderr.trim()})`)
    t.equal(res.stderr.trimEnd().split('\n').length, 1, `${url}: one line on stderr`)
    t.notMatch(res.stderr, /^\s+at /m, `${url}: no stack`)
  }
})
