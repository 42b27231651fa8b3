// SIGTERM just after requests were written on fresh connections: every one is answered (200, or 503 with
// Retry-After and Connection: close), none reset; the service started as npm start's command line runs it.
import { randomBytes } from 'node:crypto'
import { connect, type Socket } from 'node:net'
import t from 'tap'
import { answering, freePort, LOGIN_BURSTS, npmStartCommand, startLikeNpm, testEnv } from './support/index.js'

const BURST = 40

// A request written on a fresh connection just before SIGTERM may still sit in the kernel's accept queue
// (a busy or starved process accepts late), or be accepted with its bytes unread (Node then counts the
// connection idle). It must be answered (200, or 503 with Retry-After and Connection: close), never
// reset: a client cannot tell a reset from a lost answer.
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
    const service = startLikeNpm(command, testEnv(t, { ADMIN_USERNAME: 'admin', ADMIN_PASSWORD: password, ...LOGIN_BURSTS, PORT: String(port), FASTIFY_ADDRESS: '127.0.0.1' }))
    t.teardown(() => { try { process.kill(-service.child.pid!, 'SIGKILL') } catch {} })
    const base = `http://127.0.0.1:${port}`
    await answering(`${base}/health/ready`, service)
    const refreshTokens = await Promise.all(Array.from({ length: BURST }, async () => {
      const res = await fetch(`${base}/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password }) })
      return ((await res.json()) as { refreshToken: string }).refreshToken
    }))
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
