// `npm start` as an operator runs it: on a built tree it compiles nothing and listens at once; SIGTERM or
// Ctrl-C stops it with exit 0, saying it drains and that it stopped, and leaves no process behind. A bad
// environment value stops the start with one line naming the variable. And the build step itself, in a
// copy of the tree: it builds only when a source changed.
import { execFile, spawn } from 'node:child_process'
import { cp, mkdir, readdir, stat, symlink, utimes, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import t, { type Test } from 'tap'
import { freePort, startService, testEnv, type Env, type Service } from './support/index.js'

const root = join(import.meta.dirname, '..')
const stampPath = join(root, 'dist', '.build-stamp')

function npmStart (env: Env): Service {
  let out = ''
  // npm itself, as an operator types it; in a group of its own so that the teardown can end what is left.
  const child = spawn('npm', ['start'], { cwd: root, env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  child.stdout.on('data', (d) => { out += d })
  child.stderr.on('data', (d) => { out += d })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return { child, output: () => out, exited }
}

const alive = (pid: number) => { try { process.kill(pid, 0); return true } catch { return false } }

async function until (what: string, check: () => boolean, ms = 20_000) {
  const deadline = Date.now() + ms
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms: ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

// The shared tree must be built and up to date: this test must never make `npm start` rebuild it (that
// would delete dist/ under the tests running beside it).
async function upToDate (t: Test): Promise<boolean> {
  const check = await promisify(execFile)(process.execPath, [join(root, 'scripts', 'ensure-built.mjs'), '--check']).then(() => 0, (err: { code: number }) => err.code)
  if (check !== 0) t.fail('dist/ is not up to date with the sources: run `npm run build` before the tests')
  return check === 0
}

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  t.test(`a second npm start compiles nothing and listens; ${signal} to npm stops it cleanly, nothing left running`, async (t) => {
    if (!await upToDate(t)) return
    const before = { stamp: (await stat(stampPath)).mtimeMs, app: (await stat(join(root, 'dist', 'src', 'app.js'))).mtimeMs }
    const port = await freePort()
    const service = npmStart(testEnv(t, { PORT: String(port), FASTIFY_ADDRESS: '127.0.0.1', ADMIN_PASSWORD: 'bootstrap-password' }))
    t.teardown(() => { try { process.kill(-service.child.pid!, 'SIGKILL') } catch {} })
    await until('listening', () => service.output().includes('Server listening'))
    const output = service.output()
    t.match(output, /ensure-built: dist\/ is up to date/, 'the build step found dist/ up to date')
    t.notMatch(output, /building|tsc/, 'and compiled nothing')
    t.equal((await stat(stampPath)).mtimeMs, before.stamp, 'the stamp is untouched')
    t.equal((await stat(join(root, 'dist', 'src', 'app.js'))).mtimeMs, before.app, 'dist/ is untouched')
    t.match(output, `Server listening at http://127.0.0.1:${port}`)
    t.equal((await fetch(`http://127.0.0.1:${port}/health/live`)).status, 200, 'it answers')
    // On the Node.js npm installed (node_modules/.bin/node, found first by npm scripts), the one the tests run on.
    await until('the ready line', () => service.output().includes('"msg":"ready'))
    const ready = JSON.parse(service.output().split('\n').find((l) => l.includes('"msg":"ready'))!)
    t.equal(ready.node, process.version, `npm start runs the service on the tests' Node.js (${process.version})`)

    // npm → node (the shell exec'd fastify-cli): the service's pid is the one in its log lines.
    const pid = JSON.parse(output.split('\n').find((l) => l.includes('Server listening'))!).pid as number
    t.not(pid, service.child.pid, 'the service is a child of npm')
    const children = await promisify(execFile)('pgrep', ['-P', String(service.child.pid)]).then((r) => r.stdout.trim().split('\n').map(Number), () => [])
    t.same(children, [pid], 'npm\'s only child is the service itself: no shell left between them')

    service.child.kill(signal) // to npm alone, as a process manager or a terminal's Ctrl-C (which reaches both) would
    t.equal(await service.exited, 0, 'npm exits 0')
    await until('the service exits', () => !alive(pid), 5000).catch(() => {})
    t.notOk(alive(pid), 'the service process is gone')
    const lines = service.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l))
    const messages = lines.map((l) => l.msg as string)
    const draining = messages.findIndex((m) => /^shutting down: draining in-flight requests/.test(m))
    const stopped = messages.findIndex((m) => /^stopped/.test(m))
    t.ok(draining >= 0, 'a line says it is draining')
    t.ok(stopped > draining, 'and the last one that it stopped')
    t.equal(stopped, messages.length - 1, 'nothing after "stopped"')
  })
}

t.test('a bad environment value at start: one line naming the variable, exit 1, no stack', async (t) => {
  const cases: Array<[Env, RegExp]> = [
    [{ ACCESS_TOKEN_TTL: 'abc' }, /^start-up failed: env\/ACCESS_TOKEN_TTL must be integer$/],
    [{ JWT_ALGORITHM: 'HS256' }, /^start-up failed: env\/JWT_SECRET is required when JWT_ALGORITHM is HS256$/],
    [{ TRUST_PROXY: 'bad' }, /^start-up failed: env\/TRUST_PROXY must be false, true, a hop count/]
  ]
  // fastify-cli as npm start runs it: the whole output is the one line.
  for (const [bad, message] of cases) {
    const service = startService(testEnv(t, bad), await freePort())
    t.teardown(() => { service.child.kill('SIGKILL') })
    t.equal(await service.exited, 1, `${Object.keys(bad)[0]}: exit 1`)
    const lines = service.output().trim().split('\n')
    t.equal(lines.length, 1, `${Object.keys(bad)[0]}: one line (${service.output()})`)
    const line = JSON.parse(lines[0])
    t.equal(line.level, 60, 'at fatal')
    t.match(line.msg, message)
    t.notOk('err' in line || 'stack' in line, 'no error object, no stack')
  }
  // Through npm start: npm adds its own lines (the script it runs, that it failed); the service's is one.
  if (!await upToDate(t)) return
  const service = npmStart(testEnv(t, { ACCESS_TOKEN_TTL: 'abc', PORT: String(await freePort()), FASTIFY_ADDRESS: '127.0.0.1' }))
  t.teardown(() => { try { process.kill(-service.child.pid!, 'SIGKILL') } catch {} })
  t.not(await service.exited, 0, 'npm start exits non-zero')
  const output = service.output()
  t.equal(output.split('\n').filter((l) => l.includes('ACCESS_TOKEN_TTL')).length, 1, 'one line names the variable')
  t.match(output, /"msg":"start-up failed: env\/ACCESS_TOKEN_TTL must be integer"/)
  t.notMatch(output, /^\s+at /m, 'no stack')
  t.notMatch(output, 'Server listening')
})

t.test('the build step (in a copy of the tree): nothing when up to date, a clean build when a source changed', async (t) => {
  const dir = t.testdir()
  for (const entry of ['src', 'plugins', 'routes', 'bench', 'test/support', 'scripts', 'dist', 'tsconfig.json', 'tsconfig.build.json', 'package.json']) {
    await cp(join(root, entry), join(dir, entry), { recursive: true, preserveTimestamps: true })
  }
  await symlink(join(root, 'node_modules'), join(dir, 'node_modules'))
  const ensure = (...args: string[]) => promisify(execFile)(process.execPath, [join(dir, 'scripts', 'ensure-built.mjs'), ...args], { cwd: dir })
    .then((r) => ({ code: 0, stderr: r.stderr }), (err: { code: number, stderr: string }) => ({ code: err.code, stderr: err.stderr }))
  // The copy's folders are dated when they were copied: every source made older than the stamp, as it is
  // in a tree just built.
  const stamp = (await stat(join(dir, 'dist', '.build-stamp'))).mtime
  const old = new Date(stamp.getTime() - 60_000)
  const age = async (path: string): Promise<void> => {
    if ((await stat(path)).isDirectory()) for (const entry of await readdir(path)) await age(join(path, entry))
    await utimes(path, old, old)
  }
  for (const source of ['src', 'plugins', 'routes', 'bench', 'test/support', 'tsconfig.json', 'tsconfig.build.json']) await age(join(dir, source))

  t.same(await ensure(), { code: 0, stderr: 'ensure-built: dist/ is up to date\n' }, 'up to date: nothing done')
  t.same(await ensure('--check'), { code: 0, stderr: 'ensure-built: dist/ is up to date\n' })

  // A stale file in dist/ (as from a plugin since deleted) and a changed source.
  await mkdir(join(dir, 'dist', 'plugins'), { recursive: true })
  await writeFile(join(dir, 'dist', 'plugins', 'deleted-plugin.js'), 'export default {}\n')
  const later = new Date(stamp.getTime() + 1000)
  await utimes(join(dir, 'plugins', 'shutdown.ts'), later, later)
  const check = await ensure('--check')
  t.equal(check.code, 3, '--check: out of date, and builds nothing')
  t.match(check.stderr, /out of date: plugins\/shutdown.ts changed since the last build/)
  const built = await ensure()
  t.equal(built.code, 0, built.stderr)
  t.match(built.stderr, /plugins\/shutdown.ts changed since the last build: building\nensure-built: built in [\d.]+ s\n$/)
  t.notOk(existsSync(join(dir, 'dist', 'plugins', 'deleted-plugin.js')), 'a clean build: the stale file is gone')
  t.ok(existsSync(join(dir, 'dist', 'src', 'cli', 'main.js')), 'and the build is there')
  t.same(await ensure(), { code: 0, stderr: 'ensure-built: dist/ is up to date\n' }, 'then up to date again')
})
