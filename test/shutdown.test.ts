// SIGTERM with logins in flight: every request is answered (200, or 503 with Retry-After), no connection
// is reset, and the process exits 0. Started as fastify-cli starts it, and as `npm start` does.
import { randomBytes } from 'node:crypto'
import t, { type Test } from 'tap'
import { answering, freePort, npmStartCommand, startLikeNpm, startService, testEnv, type Env, type Service, LOGIN_BURSTS } from './support/index.js'

const BURST = 40

async function burstThenSigterm (t: Test, service: Service, base: string, password: string, signal: () => void) {
  await answering(`${base}/health/ready`, service)
  const answers = Array.from({ length: BURST }, () => fetch(`${base}/login`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password })
  }).then(async (res) => ({ status: res.status, retryAfter: res.headers.get('retry-after'), body: await res.text() }),
    (err: Error) => ({ status: 0, retryAfter: null, body: String(err.cause ?? err) })))
  await new Promise((resolve) => setTimeout(resolve, 150)) // the burst is in: some hashing, most queued
  const signalled = performance.now()
  signal()
  // Once the service says it drains (on a loaded machine that can be a few hundred ms after the signal).
  while (!service.output().includes('shutting down: draining')) await new Promise((resolve) => setTimeout(resolve, 10))
  const late = await fetch(`${base}/health/ready`).then((res) => res.status, () => 'refused')
  const results = await Promise.all(answers)
  const answered = performance.now()
  const code = await service.exited
  const exitedAfterLastAnswerMs = performance.now() - answered
  t.ok(exitedAfterLastAnswerMs < 2000, `the process exits soon after the last answer (${Math.round(exitedAfterLastAnswerMs)} ms; ${Math.round(performance.now() - signalled)} ms after SIGTERM), not at the end of the grace: keep-alive connections left idle are closed`)
  const statuses = results.map((r) => r.status)
  t.equal(results.filter((r) => r.status === 0).length, 0, `no request without an answer (${results.filter((r) => r.status === 0).map((r) => r.body).join('; ')})`)
  t.ok(results.every((r) => r.status === 200 || (r.status === 503 && Number(r.retryAfter) > 0)), `every answer 200, or 503 with Retry-After: ${statuses.join(' ')}`)
  t.ok(results.filter((r) => r.status === 503).every((r) => JSON.parse(r.body).code === 'shutting_down'), 'each 503 says shutting_down')
  t.ok(late === 'refused' || late === 503, `a request after SIGTERM is refused or 503 (${late})`)
  t.equal(code, 0, 'exit code 0')
  const output = service.output()
  t.match(output, /shutting down: draining in-flight requests/, 'a line when draining starts')
  t.match(output, /shutdown: requests drained/, 'and one when it ends')
  t.notMatch(output, /killed by timeout/)
  return statuses
}

const envFor = (t: Test, password: string, extra: Env = {}) => testEnv(t, {
  ADMIN_USERNAME: 'admin', ADMIN_PASSWORD: password, HASH_CONCURRENCY: '1', ...LOGIN_BURSTS, ...extra
})

t.test('SIGTERM during a burst of 40 logins (fastify-cli with the grace npm start gives it): all answered, exit 0', async (t) => {
  const password = randomBytes(12).toString('base64url')
  const port = await freePort()
  const service = startService(envFor(t, password), port, undefined, 'info', true, ['-g', '15000'])
  t.teardown(() => { service.child.kill('SIGKILL') })
  const statuses = await burstThenSigterm(t, service, `http://127.0.0.1:${port}`, password, () => service.child.kill('SIGTERM'))
  t.equal(statuses.filter((s) => s === 200).length, BURST, 'within the 10 s grace, every login in flight finished')
})

t.test('SIGTERM under npm start\'s command line, with a grace shorter than the queue: queued logins get 503 with Retry-After', async (t) => {
  const command = await npmStartCommand()
  t.match(command, /exec fastify start/, 'the shell execs fastify-cli, so the signal reaches it')
  const password = randomBytes(12).toString('base64url')
  const port = await freePort()
  // Hashing made slow (40 passes, about 0.1 s a login on the development machine, one at a time) so that 40
  // logins cannot all finish within a 1 s grace: at 8 passes, on a quiet machine, all 40 did.
  const service = startLikeNpm(command, envFor(t, password, { PORT: String(port), FASTIFY_ADDRESS: '127.0.0.1', SHUTDOWN_GRACE: '1', ARGON2_TIME_COST: '40' }))
  t.teardown(() => { try { process.kill(-service.child.pid!, 'SIGKILL') } catch {} })
  const statuses = await burstThenSigterm(t, service, `http://127.0.0.1:${port}`, password, () => service.child.kill('SIGTERM'))
  t.ok(statuses.some((s) => s === 200), 'the logins being hashed finished')
  t.ok(statuses.some((s) => s === 503), 'the ones still queued at the end of the grace were told to retry')
})
