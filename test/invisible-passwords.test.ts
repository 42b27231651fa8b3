// Blank and invisible passwords, over Unicode's own list of Default_Ignorable_Code_Point
// (test/fixtures/default-ignorable-code-points.txt) and the Hangul fillers: refused wherever a password is
// set (here signup and PUT /me/password; the CLI and ADMIN_PASSWORD in invisible-passwords-cli.test.ts),
// never at login.
import type { FastifyInstance } from 'fastify'
import t from 'tap'
import { PasswordPolicy } from '../src/passwords/policy.js'
import { normalizePassword } from '../src/passwords/hasher.js'
import { usernameSkeleton, casedSkeletons } from '../src/text/usernames.js'
import { BLANK, COMMON, DEFAULT_IGNORABLES, hex, SAMPLE, SHORT } from './support/default-ignorables.js'
import { addUser, bearer, build, login, loginTokens, PASSWORD, testEnv } from './support/index.js'

// Every code point of the pinned list, three ways: eight of it; a listed password padded with it; and
// hidden inside one.
const waysOf = (c: string): Array<[string, string, RegExp]> => [
  [`8 × ${hex(c)}`, c.repeat(8), SHORT],
  [`password padded with ${hex(c)}`, `${c}${c}password${c}`, COMMON],
  [`${hex(c)} inside iloveyou1`, `ilove${c}you1`, COMMON]
]
const everyIgnorable = (): Array<[string, string, RegExp]> => DEFAULT_IGNORABLES.flatMap(waysOf)
// Over HTTP, one request a code point (the policy is checked every way above), the way taking turns;
// `turn` shifts them, so that signup and a change see each code point in different ways.
const eachIgnorableOnce = (turn: number): Array<[string, string, RegExp]> => DEFAULT_IGNORABLES.map((c, i) => waysOf(c)[(i + turn) % 3])

const policy = new PasswordPolicy({ minLength: 8 })
const work = (app: FastifyInstance) => ({ hashes: app.passwordHasher.hashes, verifications: app.passwordHasher.verifications })

t.test('the policy refuses 8 of every default-ignorable code point, and a listed password padded with any of them', async (t) => {
  t.equal(policy.problem('iloveyou1'), 'password is too common: it is one of the 10,000 most used passwords; choose another', 'iloveyou1 is listed')
  const wrong: string[] = []
  for (const [what, password, message] of everyIgnorable()) {
    const problem = policy.problem(password, 'someone')
    if (!message.test(problem ?? '')) wrong.push(`${what}: ${problem}`)
  }
  t.same(wrong.slice(0, 20), [], `${DEFAULT_IGNORABLES.length * 3} refused with the right message (${wrong.length} not)`)
  for (const [what, password, message] of BLANK) t.match(policy.problem(password, 'someone'), message, what)
})

t.test('genuine passwords still pass: spaces between words, accents, scripts written with marks, emoji', async (t) => {
  for (const ok of [PASSWORD, 'I am bob!!', 'abcabcab', 'aabbaabb', 'Пароль-для-Ωmega', 'lIl1-I1lI-Oo0', 'zebra-🦓-pie', 'crème brûlée à la mode', 'मेरापासवर्ड', 'ÅÄÖåäöÅÄ', '😀😁😂🤣😃😄😅😆', 'a\u0301b\u0301c\u0301d\u0301e\u0301f\u0301g\u0301h\u0301']) {
    t.equal(policy.problem(ok, 'someone'), undefined, JSON.stringify(ok))
  }
})

t.test('signup refuses each of them with a clear 400, before any hashing', async (t) => {
  const app = await build(t, testEnv(t, { SIGNUP_ENABLED: 'true' }))
  const before = work(app)
  const wrong: string[] = []
  for (const [what, password, message] of [...BLANK, ...eachIgnorableOnce(0)]) {
    const res = await app.inject({ method: 'POST', url: '/signup', payload: { username: 'dorothy', password } })
    if (res.statusCode !== 400 || !message.test(res.json().message)) wrong.push(`${what}: ${res.statusCode} ${res.body}`)
    if (wrong.length >= 20) break // enough to say what is wrong
  }
  t.same(wrong.slice(0, 20), [], `each refused (${wrong.length} not)`)
  t.same(work(app), before, 'nothing hashed')
  t.notOk(await app.accounts.find('dorothy'), 'no account made')
})

t.test('PUT /me/password refuses each of them with a clear 400, before verifying the current one', async (t) => {
  const app = await build(t)
  await addUser(app, 'dorothy', PASSWORD)
  const { token } = await loginTokens(app, 'dorothy', PASSWORD)
  const before = work(app)
  const wrong: string[] = []
  for (const [what, password, message] of [...BLANK, ...eachIgnorableOnce(1)]) {
    const res = await app.inject({ method: 'PUT', url: '/me/password', headers: bearer(token), payload: { currentPassword: PASSWORD, newPassword: password } })
    if (res.statusCode !== 400 || !new RegExp('^newPassword: ' + message.source.slice(1)).test(res.json().message)) wrong.push(`${what}: ${res.statusCode} ${res.body}`)
    if (wrong.length >= 20) break // enough to say what is wrong
  }
  t.same(wrong.slice(0, 20), [], `each refused (${wrong.length} not)`)
  t.same(work(app), before, 'nothing hashed or verified')
  t.equal((await login(app, 'dorothy', PASSWORD)).statusCode, 200, 'the password did not change')
})

t.test('users whose passwords predate the rule still log in with them, refresh and change them', async (t) => {
  const app = await build(t)
  // Written straight into the store, hashed as the service hashes (the NFKC form): the accounts the old
  // rules let be made.
  const old = [...BLANK.map(([, password]) => password), ...SAMPLE.map((c) => c.repeat(8)), 'АAΑАAΑАA', 'lIlIlIlI', '-‐‑‒–—―−', 'раssword', 'abababab']
  const now = new Date().toISOString()
  for (const [i, password] of old.entries()) {
    const username = `old-user-${i}`
    await app.db.insertInto('users').values({
      id: `old-${i}`,
      username,
      username_key: username,
      username_skeleton: usernameSkeleton(username),
      username_skeleton_display: casedSkeletons(username).display,
      username_skeleton_upper: casedSkeletons(username).upper,
      password_hash: await app.passwordHasher.hash(normalizePassword(password)),
      password_normalized: 1,
      roles: '',
      created_at: now,
      updated_at: now
    }).execute()
  }
  const refused: string[] = []
  for (const [i, password] of old.entries()) {
    const res = await login(app, `old-user-${i}`, password)
    if (res.statusCode !== 200) refused.push(`${JSON.stringify(password)}: ${res.statusCode} ${res.body}`)
  }
  t.same(refused, [], `all ${old.length} log in`)
  t.equal((await login(app, 'old-user-0', 'x'.repeat(8))).statusCode, 401, 'and only with their own password')
  const { token, refreshToken } = await loginTokens(app, 'old-user-0', old[0])
  t.equal((await app.inject({ method: 'POST', url: '/token/refresh', payload: { refreshToken } })).statusCode, 200, 'the session refreshes')
  const change = await app.inject({ method: 'PUT', url: '/me/password', headers: bearer(token), payload: { currentPassword: old[0], newPassword: 'a real passphrase at last' } })
  t.equal(change.statusCode, 204, 'the old password is accepted as the current one in a change')
  t.equal((await login(app, 'old-user-0', 'a real passphrase at last')).statusCode, 200)
})
