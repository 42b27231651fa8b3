// The configuration's inputs an outside attack used, each reproduced here first: .env lines that
// Node's parser reads otherwise than written (a byte-order mark, a no-break space or a tab before a name,
// an unquoted # or text after a closing quote in a value) are refused, naming the line; URLs that the
// clients could not use are refused by name; PUBLIC_URL is one URL to every parser; Redis's password-only
// URL form is masked.
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { cli, exitWithin, freePort, startService, testEnv } from './support/index.js'

const SECRET = 'ENVSECRET20ENVSECRET20ENVSECRET20ENVSECRET20'

t.test('.env: lines Node would read as another name or another value stop the CLI and the server, naming the line', async (t) => {
  const dir = t.testdir()
  const db = `DATABASE_URL=sqlite:${join(dir, 'auth.db')}`
  const cases: Array<[string, string, RegExp]> = [
    ['a byte-order mark', `\uFEFFKEY_ENCRYPTION_KEY=${SECRET}\n${db}\n`, /^error: \.env starts with a byte-order mark/],
    ['a no-break space before a name', `${db}\n\u00A0KEY_ENCRYPTION_KEY=${SECRET}\n`, /^error: \.env line 2 is not NAME=value/],
    ['export and a tab', `${db}\nexport\tKEY_ENCRYPTION_KEY=${SECRET}\n`, /^error: \.env line 2 is not NAME=value/],
    ['an unquoted # in a value', `${db}\nKEY_ENCRYPTION_KEY=${SECRET}#and-the-rest\n`, /^error: \.env line 2: the value of KEY_ENCRYPTION_KEY would be read as something else than written/],
    ['text after a closing quote', `${db}\nNOTE='it's'\n`, /^error: \.env line 2: the value of NOTE would be read as something else than written/],
    ['text after a closing double quote', `${db}\nNOTE="abc"def\n`, /^error: \.env line 2: the value of NOTE would be read as something else than written/]
  ]
  for (const [what, content, message] of cases) {
    await writeFile(join(dir, '.env'), content)
    const checked = await cli({}, ['config', 'check'], '', dir)
    t.equal(checked.code, 1, `${what}: config check refuses it`)
    t.match(checked.stderr, message, `${what}: ${checked.stderr.trim()}`)
    t.notMatch(checked.stdout + checked.stderr, SECRET, `${what}: without the secret`)
  }
  // The server, as npm start runs it (fastify-cli loads .env, then the app checks it): it does not start.
  await writeFile(join(dir, '.env'), cases[0][1])
  const service = startService({}, await freePort(), dir)
  t.teardown(() => { service.child.kill('SIGKILL') })
  const exited = await exitWithin(service)
  t.not(exited, 'running', 'a BOM: the server stops (before, it started without KEY_ENCRYPTION_KEY)')
  t.not(exited, 0, 'with a failure exit code')
  const fatal = service.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { level: number, msg: string }).filter((l) => l.level === 60)
  t.equal(fatal.length, 1)
  t.match(fatal[0]?.msg, /^start-up failed: \.env starts with a byte-order mark/)
  t.notMatch(service.output(), SECRET)
})

t.test('.env: what Node reads as written is accepted, comments after a space, quotes and repeated names included', async (t) => {
  const dir = t.testdir()
  await writeFile(join(dir, '.env'), [
    '# a comment',
    `DATABASE_URL=sqlite:${join(dir, 'auth.db')}   # the store`,
    'export PORT=3000',
    '  RATE_LIMIT_LOGIN = 500',
    "NOTE='a # inside single quotes'",
    'OTHER="two words" # and a comment',
    'MULTI="two',
    'lines"',
    'ACCESS_TOKEN_TTL=300',
    'ACCESS_TOKEN_TTL=600',
    `KEY_ENCRYPTION_KEY=${SECRET}`,
    ''
  ].join('\n'))
  const ok = await cli({}, ['config', 'check'], '', dir)
  t.equal(ok.code, 0, ok.stderr)
  t.match(ok.stdout, /KEY_ENCRYPTION_KEY\s+\*\*\* \(set\)/, 'the last variable is set')
  t.match(ok.stdout, /RATE_LIMIT_LOGIN\s+500/, 'spaces around = are fine')
  t.match(ok.stdout, /ACCESS_TOKEN_TTL\s+600/, 'a repeated name: the last one, as Node reads it')
  t.notMatch(ok.stdout, SECRET)
})

t.test('URLs the clients could not use are refused by name, without the URL; PUBLIC_URL is one URL to every parser', async (t) => {
  const env = testEnv(t)
  const refused: Array<[string, string, RegExp]> = [
    ['REDIS_URL', 'redis://127.0.0.1:6379/abc', /^error: env\/REDIS_URL: the path must be a database number/],
    ['REDIS_URL', 'redis://:S3CRET%zz@127.0.0.1:6379', /^error: env\/REDIS_URL: the user or password holds a % that is not a %-escape/],
    ['DATABASE_URL', 'postgres://app:S3CRET%zz@127.0.0.1:5432/auth', /^error: env\/DATABASE_URL: the user or password holds a % that is not a %-escape/],
    ['PUBLIC_URL', 'https://ex%41mple.com\\evil.org/x', /^error: env\/PUBLIC_URL must be written as a URL parser writes it: https:\/\/example.com\/evil.org\/x$/m],
    ['PUBLIC_URL', 'https://Auth.Example.com', /^error: env\/PUBLIC_URL must be written as a URL parser writes it: https:\/\/auth.example.com$/m]
  ]
  for (const [name, value, message] of refused) {
    const res = await cli({ ...env, [name]: value }, ['config', 'check'])
    t.equal(res.code, 1, `${name}=${value}: refused`)
    t.match(res.stderr, message, res.stderr.trim())
    t.notMatch(res.stderr + res.stdout, 'S3CRET', 'never the password')
  }
  for (const value of ['https://auth.example.com', 'https://auth.example.com/', 'https://auth.example.com/base/', 'http://localhost:3000']) {
    const res = await cli({ ...env, PUBLIC_URL: value }, ['config', 'check'])
    t.equal(res.code, 0, `PUBLIC_URL=${value}: accepted (${res.stderr.trim()})`)
  }
  const masked = await cli({ ...env, REDIS_URL: 'redis://S3CRETpw@127.0.0.1:6379/0' }, ['config', 'check'])
  t.equal(masked.code, 0, masked.stderr)
  t.match(masked.stdout, /REDIS_URL\s+redis:\/\/\*\*\*@127\.0\.0\.1:6379\/0/, 'the password-only form is masked')
  t.notMatch(masked.stdout, 'S3CRET')
})
