// SIGTERM with logins in flight: every request is answered (200, or 503 with Retry-After), no connection
// is reset, and the process exits 0. Started as fastify-cli starts it, and as `npm start` does.
import { randomBytes } from 'node:crypto'
import { connect, type Socket } from 'node:net'
import t, { type Test } from 'tap'
import { answering, freePort, npmStartCommand, startLikeNpm, startService, testEnv, type Env, type Service, LOGIN_BURSTS } from './helper.js'

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
  // Hashing made slow (8 passes) so that 40 logins cannot all finish within a 1 s grace.
  const service = startLikeNpm(command, envFor(t, password, { PORT: String(port), FASTIFY_ADDRESS: '127.0.0.1', SHUTDOWN_GRACE: '1', ARGON2_TIME_COST: '8' }))
  t.teardown(() => { try { process.kill(-service.child.pid!, 'SIGKILL') } catch {} })
  const statuses = await burstThenSigterm(t, service, `http://127.0.0.1:${port}`, password, () => service.child.kill('SIGTERM'))
  t.ok(statuses.some((s) => s === 200), 'the logins being hashed finished')
  t.ok(statuses.some((s) => s === 503), 'the ones still queued at the end of the grace were told to retry')
})

// A request written on a fresh connection just before SIGTERM: the connection is accepted, its bytes sit
// in the socket's buffer, not yet parsed, so Node counts it idle. It must be answered (200, or 503 with
// Retry-After and Connection: close), never reset: a client cannot tell a reset from a lost answer.
interface RawAnswer { status: number, headers: Record<string, string>, at: number, reset?: string }

// One HTTP/1.1 request on a connection of its own, already open; resolves with the answer's head, or
// with `reset` when the connection ends (or errs) without one.
function rawExchange (socket: Socket, request: string): Promise<RawAnswer> {
  return new Promise((resolve) => {
    let data = ''
    let done = false
    const finish = (answer: RawAnswer) => { if (!done) { done = true; resolve(answer); socket.destroy() } }
    socket.on('data', (chunk) => {
      data += chunk.toString('latin1')
      const end = data.indexOf('\r\n\r\n')
      if (end < 0) return
      const [statusLine, ...lines] = data.slice(0, end).split('\r\n')
      const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]))
      finish({ status: Number(statusLine.split(' ')[1]), headers, at: performance.now() })
    })
    socket.on('error', (err: NodeJS.ErrnoException) => finish({ status: 0, headers: {}, at: performance.now(), reset: err.code ?? err.message }))
    socket.on('close', () => finish({ status: 0, headers: {}, at: performance.now(), reset: `closed without an answer (${data.length} bytes)` }))
    socket.write(request)
  })
}

const post = (path: string, body: unknown) => {
  const json = JSON.stringify(body)
  return `POST ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(json)}\r\n\r\n${json}`
}

t.test('SIGTERM 30 ms after 80 requests were written on fresh connections (npm start\'s command line): every one answered, none reset, 5 runs', async (t) => {
  const command = await npmStartCommand()
  const runs = 5
  const resets: string[] = []
  for (let run = 1; run <= runs; run++) {
    const password = randomBytes(12).toString('base64url')
    const port = await freePort()
    const service = startLikeNpm(command, envFor(t, password, { PORT: String(port), FASTIFY_ADDRESS: '127.0.0.1', HASH_CONCURRENCY: undefined }))
    t.teardown(() => { try { process.kill(-service.child.pid!, 'SIGKILL') } catch {} })
    const base = `http://127.0.0.1:${port}`
    await answering(`${base}/health/ready`, service)
    const refreshTokens: string[] = []
    for (let i = 0; i < BURST; i++) {
      const res = await fetch(`${base}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password }) })
      refreshTokens.push(((await res.json()) as { refreshToken: string }).refreshToken)
    }
    const requests = [
      ...Array.from({ length: BURST }, () => post('/login', { username: 'admin', password })),
      ...refreshTokens.map((refreshToken) => post('/token/refresh', { refreshToken }))
    ]
    // Every connection open first, then every request written at once, then the signal.
    const sockets = await Promise.all(requests.map(() => new Promise<Socket>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => resolve(socket))
      socket.once('error', reject)
    })))
    const answers = Promise.all(sockets.map((socket, i) => rawExchange(socket, requests[i])))
    await new Promise((resolve) => setTimeout(resolve, 30))
    const signalled = performance.now()
    service.child.kill('SIGTERM')
    const results = await answers
    t.equal(await service.exited, 0, `run ${run}: exit code 0`)
    const reset = results.filter((r) => r.reset !== undefined)
    resets.push(...reset.map((r) => `run ${run}: ${r.reset}`))
    t.equal(reset.length, 0, `run ${run}: no request reset or left without an answer (${reset.map((r) => r.reset).join('; ')})`)
    const wrong = results.filter((r) => r.reset === undefined && !(r.status === 200 ||
      (r.status === 503 && Number(r.headers['retry-after']) > 0 && r.headers.connection === 'close')))
    t.same(wrong, [], `run ${run}: every answer 200, or 503 with Retry-After and Connection: close (${results.map((r) => r.status).join(' ')})`)
    // A login still being hashed well after the signal was in flight when draining began: its answer
    // closes the connection, which the client must not use again.
    const late = results.filter((r) => r.status === 200 && r.at - signalled > 1000)
    t.same(late.filter((r) => r.headers.connection !== 'close'), [], `run ${run}: the ${late.length} answers written more than 1 s after SIGTERM say Connection: close`)
  }
  t.same(resets, [], `no reset in ${runs} runs of ${2 * BURST} requests`)
})
