import { spawn } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'

// The bench in its short mode: every scenario runs, the table is complete, and every request in it
// succeeded. A benchmark that silently measured 401s would be worse than none.
const root = join(import.meta.dirname, '..')

t.test('npm run bench -- --quick runs every scenario and every request succeeds', { timeout: 180_000 }, async (t) => {
  const jsonFile = join(t.testdir(), 'bench.json')
  const child = spawn(process.execPath, [join(root, 'dist', 'bench', 'run.js'), '--quick', '--json', jsonFile], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (d) => { output += d })
  child.stderr.on('data', (d) => { output += d })
  const code = await new Promise((resolve) => child.on('close', resolve))
  t.equal(code, 0, output)

  const result = JSON.parse(await readFile(jsonFile, 'utf8'))
  t.equal(result.quick, true)
  t.match(result.tool, /^(wrk|autocannon)$/)
  t.match(output, new RegExp(`load generator: ${result.tool}`), 'the output says which load generator ran')
  t.match(output, /pinning: /, 'and whether it pinned CPUs')
  t.match(output, /protections switched off: /, 'and which protections were off')
  t.match(output, /service settings: as npm start \(log level info/, 'and that the service ran as npm start runs it')

  const metrics = result.rows.map((r: { metric: string }) => r.metric)
  for (const expected of [/^GET \/ CPU µs a request, as npm start runs it \(info, access line\), vs bare Fastify logging at info/, /^GET \/ CPU µs a request at FASTIFY_LOG_LEVEL=warn vs bare Fastify without a logger/,
    /^GET \/ CPU µs a request vs Express \+ jsonwebtoken/, /^100k users: GET \/ CPU µs a request vs 10 users/, /^PostgreSQL: GET \/ CPU µs a request vs the same on SQLite/,
    /^GET \/ req\/s as npm start runs it/, /^GET \/ req\/s at FASTIFY_LOG_LEVEL=warn/, /^GET \/ req\/s vs Express/, /vs argon2id verify direct/, /event-loop delay p99/,
    /login storm: GET \/ latency p99/, /100k users: POST \/login/, /^RSS, highest in .* mixed load/, /^RSS median, next/, /cold start/,
    /^PostgreSQL: GET \/ req\/s vs the same on SQLite/, /^PostgreSQL: POST \/login req\/s vs argon2id verify direct/]) {
    t.ok(metrics.some((m: string) => expected.test(m)), `row ${expected}`)
  }
  for (const row of result.rows) {
    t.ok(Number.isFinite(row.ours) && row.ours > 0, `${row.metric}: a figure`)
    if (/req\/s/.test(row.metric) && row.target === 'for information') t.equal(row.met, null, `${row.metric}: for information, judged by its CPU row`)
    else t.type(row.met, 'boolean', `${row.metric}: met or not`)
    if (row.baseline !== null) t.ok(Number.isFinite(row.ratio) && row.ratio > 0, `${row.metric}: a ratio`)
  }
  // The CPU-per-request rows: every GET / measurement of a server the bench started has its CPU figure.
  for (const m of result.measurements.filter((m: { scenario: string }) => m.scenario === 'greeting')) {
    t.ok(Number.isFinite(m.cpuUs) && m.cpuUs > 0, `greeting/${m.target} round ${m.round}: ${m.cpuUs} µs of server CPU a request`)
  }
  t.match(output, /CPU µs a request: the server process's user \+ system time/, 'the output says how CPU per request is measured')
  t.equal(result.failed, 0, 'no measurement had a failure')
  for (const m of result.measurements) {
    t.ok(m.requests > 0 && m.non2xx === 0 && m.errors === 0, `${m.scenario}/${m.target}: ${m.requests} requests, all 2xx`)
  }
  for (const line of output.split('\n').filter((l: string) => l.startsWith('|') && !l.startsWith('|---'))) {
    t.equal(line.split('|').length, 8, `table line has 6 columns: ${line}`)
  }
})
