import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import t from 'tap'
import { checkReference, CURRENT, ERRORS_PATH, PAGES, REFERENCE_PATH, renderConfigReference, renderErrorReference } from '../scripts/reference.ts'
import { ERROR_CODES, FRAMEWORK_CODES, STATUS_CODE_OF } from '../src/error-codes.js'
import { ConfigSchema } from '../src/config/schema.js'

const root = join(import.meta.dirname, '..')
const committed = readFileSync(REFERENCE_PATH, 'utf8')

// The generator as `npm run docs` and `npm run lint` run it: Node's type stripping, without tap's loader.
function generator (...args: string[]) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(_?TAP|NODE_OPTIONS$|TS_NODE_)/.test(name)))
  return spawnSync(process.execPath, [join(root, 'scripts', 'reference.ts'), ...args], { cwd: root, env, encoding: 'utf8' })
}

// The schema with one variable's description changed, as an edit of src/config/schema.ts would change it.
function withDescription (name: keyof typeof ConfigSchema.properties, description: string) {
  return { ...ConfigSchema, properties: { ...ConfigSchema.properties, [name]: { ...ConfigSchema.properties[name], description } } }
}

t.test('the committed docs/configuration.md is what the generator writes (npm run docs)', async (t) => {
  t.equal(committed, renderConfigReference(CURRENT), 'docs/configuration.md is up to date: run `npm run docs` if not')
  t.equal(renderConfigReference(CURRENT), renderConfigReference(CURRENT), 'the output is deterministic')
  t.equal(checkReference(REFERENCE_PATH), undefined)
  const run = generator('--check')
  t.equal(run.status, 0, `--check passes on the committed page: ${run.stderr}`)
})

t.test('the check catches a description changed without regenerating', async (t) => {
  const changed = 'The issuer, described otherwise than the committed page says.'
  const drifted = renderConfigReference({ ...CURRENT, schema: withDescription('JWT_ISSUER', changed) })
  t.not(drifted, committed, 'a changed description changes the page')
  t.match(drifted, `| \`JWT_ISSUER\` | string, at least 1 character | \`auth-service\` | ${changed} |`)
  t.match(checkReference(REFERENCE_PATH, drifted), /docs\/configuration\.md is out of date .*npm run docs/)

  // --check against a page that says something else than the schema: exit 1, naming the file.
  const dir = mkdtempSync(join(tmpdir(), 'reference-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const tampered = join(dir, 'configuration.md')
  const line = committed.split('\n').find((l) => l.startsWith('| `JWT_ISSUER` |'))
  t.ok(line, 'the page has a row for JWT_ISSUER')
  writeFileSync(tampered, committed.replace(line!, line!.replace('`iss` of issued tokens', '`iss` of some tokens')))
  const run = generator('--check', tampered)
  t.equal(run.status, 1, '--check fails')
  t.match(run.stderr, `${tampered} is out of date`, 'and names the file')
  t.match(run.stderr, 'npm run docs')
  const missing = generator('--check', join(dir, 'absent.md'))
  t.equal(missing.status, 1)
  t.match(missing.stderr, 'absent.md is missing')
})

t.test('every variable is on the page with its description and its default', async (t) => {
  const variables = committed.slice(committed.indexOf('\n## Variables\n'), committed.indexOf('\n## Rules between variables\n'))
  const rows = new Map(variables.split('\n').filter((l) => l.startsWith('| `')).map((l) => [/^\| `([^`]+)`/.exec(l)![1], l]))
  for (const [name, s] of Object.entries(ConfigSchema.properties)) {
    const row = rows.get(name)
    if (!row) {
      t.fail(`${name} has no row`)
      continue
    }
    const description = s.description ?? ''
    t.ok(description.trim().length > 0, `${name} has a description in the schema`)
    t.ok(row.endsWith(` | ${description.replaceAll('|', '\\|')} |`), `${name}'s row ends with its description`)
    const shown = s.default !== undefined ? `\`${s.default}\`` : undefined
    if (shown !== undefined) t.ok(row.includes(` | ${shown} | `), `${name}'s row shows its default ${shown}`)
    else t.notOk(row.includes(' | required | '), `${name} is optional`)
  }
  // Optional variables without a schema default say what the code does then, from the schema's annotation.
  t.match(rows.get('HASH_CONCURRENCY'), '| cores − 1 (at least 1) |')
  t.match(rows.get('MAX_HEAP_USED_MB'), '| 90 % of the heap limit |')
  t.match(rows.get('PUBLIC_URL'), '| `http://localhost:<port it listens on>` |')
  t.match(rows.get('REDIS_URL'), '| unset |')
  // A | in a cell is escaped (DATABASE_URL's pattern), so the table keeps its columns.
  t.match(rows.get('DATABASE_URL'), '`^(sqlite:.+\\|postgres(ql)?://.+)$`')
  // The sections the docs link to, and the variables read outside the schema.
  for (const heading of ['## Variables', '## Rules between variables', '## Read by fastify-cli']) t.ok(committed.includes(`\n${heading}\n`), heading)
  for (const name of ['FASTIFY_ADDRESS', 'FASTIFY_LOG_LEVEL', 'SHUTDOWN_GRACE']) t.ok(committed.includes(`| \`${name}\` |`), name)
})

t.test('every rule configProblem checks is on the page, in its order', async (t) => {
  const page = committed.slice(committed.indexOf('## Rules between variables'), committed.indexOf('## Read by fastify-cli'))
  CURRENT.rules.forEach((r, i) => {
    t.ok(r.rule.trim().length > 0)
    t.ok(page.includes(`${i + 1}. ${r.variables.map((v) => `\`${v}\``).join(', ')}: ${r.rule}`), `rule ${i + 1} (${r.variables.join(', ')})`)
  })
})

t.test('docs/errors.md is what the generator writes from the table of codes, and the check catches drift', async (t) => {
  const page = readFileSync(ERRORS_PATH, 'utf8')
  const sources = { codes: ERROR_CODES, framework: FRAMEWORK_CODES, byStatus: STATUS_CODE_OF }
  t.equal(page, renderErrorReference(sources), 'docs/errors.md is up to date: run `npm run docs` if not')
  for (const [code, { status, description }] of Object.entries(ERROR_CODES)) {
    t.ok(page.includes(`| \`${code}\` | ${status} | `), `${code} is on the page with its status`)
    t.ok(description.trim().length > 0, `${code} says what it means`)
  }
  for (const [fastify, ours] of Object.entries(FRAMEWORK_CODES)) t.ok(page.includes(`| \`${fastify}\` | \`${ours}\` |`), `${fastify} → ${ours}`)
  const drifted = renderErrorReference({ ...sources, codes: { ...ERROR_CODES, rate_limited: { status: 429, description: 'Said otherwise.' } } })
  t.not(drifted, page, 'a changed description changes the page')
  t.match(checkReference(ERRORS_PATH, drifted, 'src/error-codes.ts'), /docs\/errors\.md is out of date with src\/error-codes\.ts/)
  const dir = mkdtempSync(join(tmpdir(), 'errors-reference-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const tampered = join(dir, 'errors.md')
  writeFileSync(tampered, page.replace('| `rate_limited` | 429 |', '| `rate_limited` | 420 |'))
  const run = generator('--check', tampered)
  t.equal(run.status, 1, '--check fails on a tampered errors page')
  t.match(run.stderr, `${tampered} is out of date with src/error-codes.ts`)
  t.same(PAGES.map((p) => p.file).sort(), [ERRORS_PATH, REFERENCE_PATH].sort(), 'both pages are generated by npm run docs and checked by npm run lint')
})
