// What keeps the service's memory low (docs/benchmarks.md, "Memory"): start-up's garbage given back before
// the service says it is ready, under npm start; glibc's malloc in one arena; pg and ioredis loaded only
// where the configuration uses them. The figures themselves are the bench's (npm run bench), not asserted
// here: these tests show that each measure is in place, and fail when one is taken out.
import { randomBytes } from 'node:crypto'
import { readFile, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import t, { type Test } from 'tap'
import {
  answering, buildWithLogs, freePort, needs, npmStartCommand, postgresDatabase, REDIS_URL, startLikeNpm, startService, testEnv, type Service
} from './support/index.js'

type Line = Record<string, unknown>
const linesOf = (service: Service): Line[] => service.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Line)
const readyLine = (lines: Line[]) => lines.find((l) => typeof l.msg === 'string' && l.msg.startsWith('ready'))

async function untilReady (service: Service): Promise<Line> {
  const deadline = Date.now() + 20_000
  for (;;) {
    const ready = readyLine(linesOf(service))
    if (ready) return ready
    if (service.child.exitCode !== null || Date.now() > deadline) throw new Error(`not ready: ${service.output()}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

t.test('under npm start, start-up\'s garbage is given back before the service says it is ready, and malloc keeps one arena', async (t) => {
  const port = await freePort()
  const service = startLikeNpm(await npmStartCommand(), testEnv(t, {
    ADMIN_USERNAME: 'admin', ADMIN_PASSWORD: randomBytes(12).toString('base64url'), PORT: String(port), FASTIFY_ADDRESS: '127.0.0.1'
  }))
  t.teardown(() => { try { process.kill(-service.child.pid!, 'SIGKILL') } catch {} })
  const ready = await untilReady(service)
  const before = ready.heapBeforeMB as number
  const after = ready.heapAfterMB as number
  t.type(before, 'number', 'the ready line gives the heap before the collection')
  t.type(after, 'number', 'and after it')
  // Measured: 58 → 34 MB (73 → 52 here). A collection that gives back no pages frees 2 MB at most.
  t.ok(after < before - 8, `the heap shrank: ${before} → ${after} MB, in ${String(ready.ms)} ms`)
  await answering(`http://127.0.0.1:${port}/health/ready`, service)
  const pid = ready.pid as number
  const environ = (await readFile(`/proc/${pid}/environ`, 'utf8')).split('\0')
  t.ok(environ.includes('MALLOC_ARENA_MAX=1'), 'the service runs with MALLOC_ARENA_MAX=1')
})

t.test('an operator\'s own MALLOC_ARENA_MAX wins over npm start\'s', async (t) => {
  const port = await freePort()
  const service = startLikeNpm(await npmStartCommand(), testEnv(t, { PORT: String(port), FASTIFY_ADDRESS: '127.0.0.1', MALLOC_ARENA_MAX: '4' }))
  t.teardown(() => { try { process.kill(-service.child.pid!, 'SIGKILL') } catch {} })
  const ready = await untilReady(service)
  const environ = (await readFile(`/proc/${ready.pid as number}/environ`, 'utf8')).split('\0')
  t.ok(environ.includes('MALLOC_ARENA_MAX=4'), 'MALLOC_ARENA_MAX=4 as set')
})

t.test('an app built by a caller that handles its own failures (the tests) leaves the process\'s heap alone, unless asked', async (t) => {
  const plain = await buildWithLogs(t)
  const line = readyLine(plain.lines.map((l) => JSON.parse(l) as Line))
  t.ok(line, 'a ready line')
  t.notOk(line && 'heapBeforeMB' in line, 'without heap figures: no collection ran')
  const asked = await buildWithLogs(t, testEnv(t), { releaseStartupGarbage: true })
  const figures = readyLine(asked.lines.map((l) => JSON.parse(l) as Line))
  t.type(figures?.heapAfterMB, 'number', 'asked for, the collection runs and its figures are in the ready line')
})

// Which packages the service's process loaded, recorded by a module hook it is started with.
async function loadedPackages (t: Test, env: Record<string, string>): Promise<Set<string>> {
  const serviceEnv = testEnv(t, env)
  const dir = dirname(serviceEnv.ADMIN_PASSWORD_FILE!) // the test's own directory (testEnv made it)
  const record = join(dir, 'loaded.txt')
  const hook = join(dir, 'hook.mjs')
  await writeFile(hook, `import { registerHooks } from 'node:module'
import { appendFileSync } from 'node:fs'
registerHooks({ load (url, context, next) {
  const m = /node_modules\\/((@[^/]+\\/)?[^/]+)\\//.exec(url)
  if (m) appendFileSync(${JSON.stringify(record)}, m[1] + '\\n')
  return next(url, context)
} })
`)
  await writeFile(record, '')
  const port = await freePort()
  const service = startService({ ...serviceEnv, NODE_OPTIONS: `--import ${hook}` }, port)
  t.teardown(() => { service.child.kill('SIGKILL') })
  await untilReady(service)
  return new Set((await readFile(record, 'utf8')).split('\n').filter(Boolean))
}

t.test('on SQLite without REDIS_URL (the defaults), the process never loads pg or ioredis', async (t) => {
  const loaded = await loadedPackages(t, {})
  t.ok(loaded.has('fastify') && loaded.has('better-sqlite3'), 'the hook records what loads (fastify, better-sqlite3)')
  t.notOk(loaded.has('pg'), 'pg is not loaded')
  t.notOk(loaded.has('ioredis'), 'ioredis is not loaded')
})

t.test('with PostgreSQL and Redis configured, both are loaded and used', await needs('postgres', 'redis'), async (t) => {
  const loaded = await loadedPackages(t, { DATABASE_URL: postgresDatabase(t), REDIS_URL, REDIS_PREFIX: `auth-test-${randomBytes(6).toString('hex')}:` })
  t.ok(loaded.has('pg'), 'pg is loaded')
  t.ok(loaded.has('ioredis'), 'ioredis is loaded')
})
