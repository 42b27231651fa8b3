// Blank and invisible passwords where an operator sets them: the CLI's users add and users set-password, and
// ADMIN_PASSWORD at start-up (a process or a start-up each, so a part of the list: the policy itself is
// checked over every code point of it in invisible-passwords.test.ts).
import t from 'tap'
import { BLANK } from './support/default-ignorables.js'
import { build, cli, login, PASSWORD, testEnv } from './support/index.js'

// The CLI is a process a password, seconds each on a busy machine: a few of BLANK's cases.
const SET_CASES = BLANK.filter(([what]) => /^(8 spaces$|8 × U\+3164|8 full stops|a common password between)/.test(what))
const ADD_CASES = BLANK.filter(([what]) => /^(8 zero-width|8 tag)/.test(what))
// A start-up each: the same, and one more.
const ADMIN_CASES = [...SET_CASES, ...ADD_CASES, ...BLANK.filter(([what]) => /^8 combining/.test(what))]

t.test('the CLI refuses each of them: users add and users set-password, exit 1 and one line', async (t) => {
  const env = testEnv(t)
  t.equal((await cli(env, ['users', 'add', 'bob'], `${PASSWORD}\n`)).code, 0)
  const runs: Array<Promise<void>> = []
  const failures: string[] = []
  const check = async (args: string[], what: string, password: string, message: RegExp) => {
    const res = await cli(env, args, `${password}\n`)
    if (res.code !== 1 || !new RegExp('^error: ' + message.source.slice(1, -1) + '\\n$').test(res.stderr)) failures.push(`${args.join(' ')} ${what}: ${res.code} ${res.stderr}`)
  }
  const cases: Array<[string[], string, string, RegExp]> = [
    ...SET_CASES.map(([what, password, message]): [string[], string, string, RegExp] => [['users', 'set-password', 'bob'], what, password, message]),
    ...ADD_CASES.map(([what, password, message]): [string[], string, string, RegExp] => [['users', 'add', 'carol'], what, password, message])
  ]
  for (const [args, what, password, message] of cases) {
    runs.push(check(args, what, password, message))
    if (runs.length >= 2) await Promise.all(runs.splice(0))
  }
  await Promise.all(runs)
  t.same(failures, [], `${cases.length} refused`)
  const app = await build(t, env)
  t.notOk(await app.accounts.find('carol'), 'carol was not made')
  t.equal((await login(app, 'bob', PASSWORD)).statusCode, 200, "bob's password did not change")
})

t.test('ADMIN_PASSWORD: each of them stops start-up, naming ADMIN_PASSWORD', async (t) => {
  for (const [what, password, message] of ADMIN_CASES) {
    await t.rejects(build(t, testEnv(t, { ADMIN_USERNAME: 'root', ADMIN_PASSWORD: password })),
      { message: new RegExp('^ADMIN_PASSWORD is refused: ' + message.source.slice(1)) }, what)
  }
  const app = await build(t, testEnv(t, { ADMIN_USERNAME: 'root', ADMIN_PASSWORD: 'first-password-1' }))
  t.equal((await login(app, 'root', 'first-password-1')).statusCode, 200, 'an acceptable one starts')
})
