// Connection URLs as deployments write them: Redis with a password and TLS (rediss://), PostgreSQL with
// sslmode. The test owns its Redis server (a free port, a password, a TLS port with a certificate of its
// own CA) and a TLS front for PostgreSQL (it answers PostgreSQL's SSLRequest, terminates TLS with that
// certificate and forwards to the shared server), so the shared servers' settings are never touched.
import { execFileSync, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { createConnection, createServer, type Socket } from 'node:net'
import { dirname, join } from 'node:path'
import { TLSSocket } from 'node:tls'
import t, { type Test } from 'tap'
import { addUser, build, buildWithLogs, freePort, httpCall, needs, PASSWORD, POSTGRES_SERVER, postgresDatabase, testEnv, type Env } from './support/index.js'

const root = join(import.meta.dirname, '..')

// A CA and a certificate for 127.0.0.1 signed by it.
function certificates (dir: string) {
  const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' })
  run('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=auth-service test CA')
  run('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=127.0.0.1')
  writeFileSync(join(dir, 'ext'), 'subjectAltName=IP:127.0.0.1\n')
  run('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '1', '-extfile', 'ext')
  return { ca: join(dir, 'ca.crt'), cert: join(dir, 'server.crt'), key: join(dir, 'server.key') }
}

async function until (what: string, check: () => Promise<boolean>, limitMs = 10_000) {
  const deadline = Date.now() + limitMs
  while (!await check().catch(() => false)) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${limitMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  return true
}

// A Redis server of the test's own: a password, plain on one port and TLS on another.
async function ownRedis (t: Test, dir: string, certs: ReturnType<typeof certificates>) {
  const password = randomBytes(12).toString('hex')
  const port = await freePort()
  const tlsPort = await freePort()
  const child = spawn('redis-server', ['--bind', '127.0.0.1', '--port', String(port), '--tls-port', String(tlsPort),
    '--tls-cert-file', certs.cert, '--tls-key-file', certs.key, '--tls-ca-cert-file', certs.ca, '--tls-auth-clients', 'no',
    '--requirepass', password, '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' })
  t.teardown(() => { child.kill('SIGKILL') })
  await until('redis-server answering', async () => {
    execFileSync('redis-cli', ['-p', String(port), '-a', password, '--no-auth-warning', 'ping'], { stdio: 'pipe' })
    return true
  })
  return { password, port, tlsPort }
}

// Answers PostgreSQL's SSLRequest with 'S', terminates TLS, forwards the plain protocol to the shared
// server. Refuses clients that do not ask for TLS. Counts the TLS sessions it carried.
async function postgresTlsFront (t: Test, certs: ReturnType<typeof certificates>) {
  const upstream = new URL(POSTGRES_SERVER)
  const sockets = new Set<Socket>()
  const stats = { tls: 0, refused: 0 }
  const server = createServer((socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
    socket.on('error', () => {})
    socket.once('data', (first: Buffer) => {
      if (first.length !== 8 || first.readUInt32BE(4) !== 80877103) {
        stats.refused++
        socket.destroy()
        return
      }
      socket.write('S')
      const secure = new TLSSocket(socket, { isServer: true, cert: readFileSync(certs.cert), key: readFileSync(certs.key) })
      secure.on('error', () => socket.destroy())
      secure.once('secure', () => { stats.tls++ })
      const plain = createConnection(Number(upstream.port || 5432), upstream.hostname)
      sockets.add(plain)
      plain.on('close', () => { sockets.delete(plain); socket.destroy() })
      plain.on('error', () => socket.destroy())
      socket.on('close', () => plain.destroy())
      secure.pipe(plain).pipe(secure)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => {
    for (const socket of sockets) socket.destroy()
    server.close()
  })
  return { port: (server.address() as { port: number }).port, stats }
}

const call = httpCall

t.test('REDIS_URL with a password, and with TLS (rediss://): instances on either tell each other of logouts', await needs('postgres'), async (t) => {
  const shared: Env = { ...testEnv(t), DATABASE_URL: postgresDatabase(t), REDIS_PREFIX: 'auth-test:', REVOCATION_SYNC_INTERVAL: '3600' }
  const dir = dirname(shared.ADMIN_PASSWORD_FILE!) // the test's directory (testEnv made it; a second t.testdir() would empty it)
  const certs = certificates(dir)
  const redis = await ownRedis(t, dir, certs)

  // A: in this process, plain Redis with the password.
  const a = await build(t, { ...shared, REDIS_URL: `redis://:${redis.password}@127.0.0.1:${redis.port}` })
  const aUrl = await a.listen({ port: 0, host: '127.0.0.1' })
  await addUser(a, 'alice', PASSWORD)

  // B: the built service in a process of its own, over TLS, trusting the test's CA.
  const port = await freePort()
  const child = spawn(process.execPath, [join(root, 'node_modules', 'fastify-cli', 'cli.js'), 'start', '-o', '-l', 'info', '-a', '127.0.0.1', '-p', String(port), join(root, 'dist', 'src', 'app.js')], {
    env: { PATH: process.env.PATH, ...shared, REDIS_URL: `rediss://:${redis.password}@127.0.0.1:${redis.tlsPort}`, NODE_EXTRA_CA_CERTS: certs.ca },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout.on('data', (d) => { output += d })
  child.stderr.on('data', (d) => { output += d })
  t.teardown(() => { child.kill('SIGKILL') })
  const bUrl = `http://127.0.0.1:${port}`
  await until('B answering', async () => (await fetch(bUrl + '/')).status === 401, 20_000)
  // Every Redis client of each instance is connected (two for hints, one for counters): A's three, B's
  // three (over TLS), the test's none.
  await until('six clients on the test\'s Redis', async () => {
    const list = execFileSync('redis-cli', ['-p', String(redis.port), '-a', redis.password, '--no-auth-warning', 'client', 'list'], { encoding: 'utf8' })
    return (list.match(/name=auth-service/g) ?? []).length === 6
  })

  for (const [via, other, name] of [[aUrl, bUrl, 'A (password) → B (TLS)'], [bUrl, aUrl, 'B (TLS) → A (password)']] as const) {
    const { token } = (await call(other, 'POST', '/login', { body: { username: 'alice', password: PASSWORD } })).body
    t.equal((await call(via, 'GET', '/', { token })).status, 200, `${name}: accepted`)
    t.equal((await call(via, 'POST', '/logout', { token })).status, 204)
    const started = Date.now()
    await until(`${name}: refused by the other`, async () => (await call(other, 'GET', '/', { token })).status === 401, 1000)
    t.pass(`${name}: refused by the other after ${Date.now() - started} ms`)
  }
  t.notMatch(output, redis.password, 'the Redis password is in no log line')
})

t.test('REDIS_URL with a wrong password: the instance serves, polling, and logs the refusal without the password', async (t) => {
  const env = testEnv(t, { REDIS_PREFIX: 'auth-test:' })
  const dir = dirname(env.ADMIN_PASSWORD_FILE!)
  const redis = await ownRedis(t, dir, certificates(dir))
  const wrong = `wrong-${randomBytes(8).toString('hex')}`
  const { app, lines } = await buildWithLogs(t, { ...env, REDIS_URL: `redis://:${wrong}@127.0.0.1:${redis.port}` })
  await addUser(app, 'alice', PASSWORD)
  const res = await app.inject({ method: 'POST', url: '/login', payload: { username: 'alice', password: PASSWORD } })
  t.equal(res.statusCode, 200, 'logins work without hints')
  await until('the refusal logged', async () => lines.some((l) => /hints: Redis unreachable \(.*(WRONGPASS|invalid)/i.test(l)))
  t.notOk(lines.some((l) => l.includes(wrong)), 'the password is in no log line')
})

t.test('DATABASE_URL with sslmode: verify-full against the certificate\'s CA works, over TLS; a server without TLS is refused', await needs('postgres'), async (t) => {
  const env = testEnv(t)
  const certs = certificates(dirname(env.ADMIN_PASSWORD_FILE!))
  const front = await postgresTlsFront(t, certs)
  const direct = new URL(postgresDatabase(t))
  const viaTls = `postgres://${direct.username}@127.0.0.1:${front.port}${direct.pathname}?sslmode=verify-full&sslrootcert=${encodeURIComponent(certs.ca)}`
  const app = await build(t, { ...env, DATABASE_URL: viaTls })
  await addUser(app, 'alice', PASSWORD)
  const res = await app.inject({ method: 'POST', url: '/login', payload: { username: 'alice', password: PASSWORD } })
  t.equal(res.statusCode, 200, 'the whole flow works over TLS')
  t.ok(front.stats.tls >= 2, `the pool and the LISTEN connection went through TLS (${front.stats.tls} sessions)`)
  t.equal(front.stats.refused, 0, 'no connection without TLS')

  // The shared server does not speak TLS: asking for it must stop the start with the driver's reason.
  await t.rejects(build(t, { ...env, DATABASE_URL: `postgres://${direct.username}@${direct.host}${direct.pathname}?sslmode=require`, DATABASE_CONNECT_TIMEOUT: '2' }),
    /SSL|ssl/, 'sslmode=require against a server without TLS: the start fails')
})
