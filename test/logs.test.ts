import t from 'tap'
import { addUser, buildWithLogs, greet, login } from './helper.js'

t.test('no password or token reaches any log line, whatever the request', async (t) => {
  const { app, lines } = await buildWithLogs(t)
  const password = 'p4ssw0rd-that-must-not-leak'
  await addUser(app, 'alice', password)

  const ok = await login(app, 'alice', password)
  const token = ok.json().token
  await login(app, 'alice', password + '-wrong')
  await login(app, 'nobody', password)
  await app.inject({ method: 'POST', url: '/login', headers: { 'content-type': 'application/json' }, payload: `{"username":"alice","password":"${password}"` })
  await app.inject({ method: 'POST', url: '/login', headers: { 'content-type': 'application/json' }, payload: `{"username":"alice","password":"${password}","extra":1}` })
  await app.inject({ method: 'POST', url: '/login', headers: { 'content-type': 'text/plain' }, payload: password })
  await greet(app, `Bearer ${token}`)
  await greet(app, `Bearer ${token}x`)
  app.log.info({ req: { headers: { authorization: `Bearer ${token}` } }, body: { password } }, 'a careless log call')

  t.ok(lines.length > 10, `logging at trace (${lines.length} lines)`)
  t.ok(lines.some((l) => l.includes('[redacted]')), 'redaction applied to the careless call')
  for (const secret of [password, token, token.split('.')[2]]) {
    t.notOk(lines.find((l) => l.includes(secret)), 'secret absent')
  }
})
