import type { AddressInfo } from 'node:net'
import { connect } from 'node:net'
import { request } from 'node:http'
import t from 'tap'
import { HEADERS_TIMEOUT_MS, REQUEST_TIMEOUT_MS } from '../src/http/server-options.js'
import { addUser, build, PASSWORD, testEnv, LOGIN_BURSTS } from './support/index.js'

// Node's request timeouts, on a listening server: a client that trickles its request is cut off within
// REQUEST_TIMEOUT_MS (plus Node's one-second check), while a login that waits longer than that in the
// hash queue, its request long since received, still completes.
function trickle (port: number, headersOnly: boolean) {
  const started = Date.now()
  const socket = connect(port, '127.0.0.1')
  let answer = ''
  const ticker = setInterval(() => socket.write(headersOnly ? 'x' : '{'), 500)
  socket.write(headersOnly
    ? 'POST /login HTTP/1.1\r\nHost: x\r\nX-Slow: '
    : 'POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10000\r\n\r\n')
  socket.on('data', (d) => { answer += d })
  socket.on('error', () => {})
  return new Promise<{ ms: number, answer: string }>((resolve) => socket.on('close', () => {
    clearInterval(ticker)
    resolve({ ms: Date.now() - started, answer })
  }))
}

function postLogin (port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ port, host: '127.0.0.1', method: 'POST', path: '/login', headers: { 'content-type': 'application/json' } }, (res) => {
      res.resume()
      res.on('end', () => resolve(res.statusCode!))
    })
    req.on('error', reject)
    req.end(JSON.stringify({ username: 'alice', password: PASSWORD }))
  })
}

t.test('a trickling client is cut off; a login queued for longer than the timeout still completes', async (t) => {
  const app = await build(t, testEnv(t, { HASH_CONCURRENCY: '1', ARGON2_TIME_COST: '8', HASH_QUEUE_LIMIT: '20000', ...LOGIN_BURSTS }))
  await addUser(app, 'alice', PASSWORD)
  await app.listen({ port: 0, host: '127.0.0.1' })
  const port = (app.server.address() as AddressInfo).port
  // (All from one address: a queue of 20,000 gives it a share of 1,000, above the 900 sent at most.)
  // Enough logins that the last waits in the hash queue for longer than REQUEST_TIMEOUT_MS (one hashes at
  // a time): the time of one login measured over a few, then twice as many as would fill it. At most 900
  // (the address's share), so a login must take over 11 ms even on a quiet machine: at ARGON2_TIME_COST 4,
  // 900 logins were seen done in 9.8 s, under the timeout; at 8, in about 16 s.
  t.equal(await postLogin(port), 200) // warm-up
  const one = Date.now()
  for (let i = 0; i < 4; i++) await postLogin(port)
  const count = Math.min(900, Math.ceil(2 * REQUEST_TIMEOUT_MS / Math.max(1, (Date.now() - one) / 4)))

  const body = trickle(port, false)
  const headers = trickle(port, true)
  const started = Date.now()
  const logins = await Promise.all(Array.from({ length: count }, () => postLogin(port)))
  const queuedMs = Date.now() - started
  t.same(new Set(logins), new Set([200]), `every one of ${count} queued logins got 200 (the last after ${queuedMs} ms)`)
  t.ok(queuedMs > REQUEST_TIMEOUT_MS, 'the last of them waited longer than the request timeout')

  const [b, h] = await Promise.all([body, headers])
  t.ok(b.ms >= REQUEST_TIMEOUT_MS - 100 && b.ms <= REQUEST_TIMEOUT_MS + 5000, `a trickled body is cut after ${b.ms} ms (requestTimeout ${REQUEST_TIMEOUT_MS})`)
  t.match(b.answer, /^HTTP\/1.1 408/, 'with 408 Request Timeout')
  t.ok(h.ms >= HEADERS_TIMEOUT_MS - 100 && h.ms <= HEADERS_TIMEOUT_MS + 5000, `trickled headers are cut after ${h.ms} ms (headersTimeout ${HEADERS_TIMEOUT_MS})`)
})
