import { spawn } from 'node:child_process'
import { join } from 'node:path'
import t from 'tap'
import { freePort } from './support/index.js'

// `npm test` on a machine without PostgreSQL and Redis: the suites that need them are skipped, each with
// one line naming the server, its address and the variable that sets it, and tap's summary counts them;
// the rest pass and the run exits 0. With CI=true (as .ci/run runs) the same run fails. Shown on a sample
// of the real suites: a test/postgres/ file (skipped whole), a file whose tests need PostgreSQL and Redis
// but for one (test/hint-paths.test.ts), and two that need neither.
const root = join(import.meta.dirname, '..')
const SAMPLE = ['test/postgres/token-rules.test.ts', 'test/hint-paths.test.ts', 'test/greeting.test.ts', 'test/plugin-dependencies.test.ts']

async function tapRun (env: Record<string, string>): Promise<{ code: number | null, output: string }> {
  // The parent tap's own variables (TAP, TAP_CHILD_ID, its NODE_OPTIONS loader, …) would make the inner run
  // report to it as its child.
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(_?TAP|NODE_OPTIONS$|TS_NODE_|CI$)/.test(name)))
  const child = spawn(join(root, 'node_modules', '.bin', 'tap'), ['--disable-coverage', '--reporter=tap', '--jobs=2', ...SAMPLE], {
    cwd: root, env: { ...inherited, FASTIFY_AUTOLOAD_TYPESCRIPT: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout.on('data', (d) => { output += d })
  child.stderr.on('data', (d) => { output += d })
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  return { code, output }
}

t.test('PostgreSQL and Redis on closed ports: their suites are skipped with a line each, the rest pass, exit 0; under CI=true, exit non-zero', async (t) => {
  const closed = { TEST_POSTGRES_URL: `postgres://postgres@127.0.0.1:${await freePort()}`, TEST_REDIS_URL: `redis://127.0.0.1:${await freePort()}` }
  const plain = await tapRun(closed)
  const ci = await tapRun({ ...closed, CI: 'true' })

  t.equal(plain.code, 0, 'exit 0 without CI')
  if (plain.code !== 0) t.comment(plain.output.split('\n').filter((l) => /not ok|# \{/.test(l)).join('\n'))
  const skips = plain.output.split('\n').filter((l) => /# SKIP/.test(l))
  t.match(skips.find((l) => l.includes('test/postgres/token-rules.test.ts')), `# SKIP skipped: PostgreSQL is not reachable at ${closed.TEST_POSTGRES_URL} (TEST_POSTGRES_URL)`,
    'the PostgreSQL copy of a suite: skipped whole, one line naming the server and its variable')
  const hintSkips = skips.filter((l) => l.includes('is not reachable at'))
  t.equal(hintSkips.length, 6, 'the file skipped whole and the five tests of hint-paths that need a server: a line each')
  t.ok(hintSkips.some((l) => l.includes(`Redis is not reachable at ${closed.TEST_REDIS_URL} (TEST_REDIS_URL)`)), 'Redis named with its variable')
  t.match(plain.output, /^# \{ total: \d+, pass: \d+, skip: 6 \}$/m, 'the summary counts the skips')
  t.notMatch(plain.output, /^not ok/m, 'nothing failed')
  t.match(plain.output, /^ok \d+ - test\/greeting\.test\.ts/m, 'the SQLite suites ran and passed')

  t.not(ci.code, 0, 'exit non-zero under CI=true')
  t.match(ci.output, /not reachable at .*, and CI=true: a suite that cannot run is a failure, not a skip/)
  t.match(ci.output, /^not ok \d+ - test\/postgres\/token-rules\.test\.ts/m, 'the PostgreSQL suite fails')
  t.match(ci.output, /^not ok \d+ - test\/hint-paths\.test\.ts/m, 'and so does the file whose tests need a server')
  t.match(ci.output, /^ok \d+ - test\/greeting\.test\.ts/m, 'the SQLite suites still pass')
})
