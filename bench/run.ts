// npm run bench [-- --quick] [-- --json FILE]: measures the built service against baselines started here,
// alternately over several rounds on loopback, and prints one table (also written as JSON).
import '../src/support/supported-node.js' // first: the bench runs on what the service supports
import { randomBytes, randomUUID } from 'node:crypto'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import jwt from 'jsonwebtoken'
import { loadConfig } from '../src/config/load.js'
import { fastifyStartArgs, freePort } from '../test/support/processes.js'
import { runLoad, tool, writeLines, type LoadResult } from './loadgen.js'
import { cpuSeconds, pinning, rssMegabytes, runJson, SERVER_CPU, LOAD_CPU, start, stop, stopAll } from './processes.js'
import {
  accessTokens, BENCH_PASSWORD, DEFAULT_LOG_LEVEL, loginBodies, postgresDatabase, NPM_START_ENV, PROTECTIONS_OFF, SERVICE_NODE_FLAGS, SERVICE_SETTINGS, startService, waitForServer, type Service
} from './service.js'

const args = process.argv.slice(2)
const quick = args.includes('--quick')
const jsonFile = args.includes('--json') ? args[args.indexOf('--json') + 1] : join('bench', 'results', quick ? 'quick.json' : 'latest.json')
const ROUNDS = quick ? 1 : 5
const SECONDS = quick ? 1 : 8
const WARMUP_SECONDS = quick ? 1 : 5
const SETTLE_MS = quick ? 100 : 1000
const STORM_SECONDS = quick ? 2 : 15
const MEMORY_SECONDS = quick ? 2 : 60
const COLD_STARTS = quick ? 1 : 3
const TOKENS = 1000
const SCALE_USERS = 100_000
const GREETING_CONNECTIONS = 50
const LOGIN_CONNECTIONS = 8
const distBench = import.meta.dirname

// cpuUs: the server's CPU time (user + system) per request served, in µs, where its process was measured.
interface Measurement extends LoadResult { scenario: string, target: string, round: number, cpuUs?: number }
interface Row { metric: string, ours: number, baseline: number | null, ratio: number | null, target: string, met: boolean | null }

const measurements: Measurement[] = []
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const figures = (scenario: string, target: string) => measurements.filter((m) => m.scenario === scenario && m.target === target)
const medianOf = (scenario: string, target: string, value: (m: Measurement) => number) => median(figures(scenario, target).map(value))
const rps = (m: Measurement) => m.rps
const cpuOf = (m: Measurement) => m.cpuUs!
// The median over rounds of ours/baseline within each round: each round's pair ran minutes apart at most,
// so drift in the machine's speed cancels out of the ratio. `worth` is what is better when higher: req/s,
// or the inverse of CPU µs per request (so a CPU ratio is baseline µs / ours, above 1 when ours is cheaper).
const medianRatioOf = (scenario: string, ours: string, baseline: string, worth: (m: Measurement) => number) => {
  const base = figures(scenario, baseline)
  return median(figures(scenario, ours).map((m) => worth(m) / worth(base.find((b) => b.round === m.round)!)))
}
const perCpu = (m: Measurement) => 1 / m.cpuUs!

async function measure (scenario: string, target: string, round: number, load: Parameters<typeof runLoad>[0], pid?: number) {
  const before = pid === undefined ? 0 : cpuSeconds(pid)
  const result = await runLoad(load)
  const cpuUs = pid === undefined || result.requests === 0 ? undefined : (cpuSeconds(pid) - before) * 1e6 / result.requests
  measurements.push({ scenario, target, round, ...result, cpuUs })
  process.stderr.write(`  ${scenario} ${target} round ${round}: ${result.rps.toFixed(0)} req/s, p99 ${result.p99Ms.toFixed(1)} ms` +
    (cpuUs === undefined ? '' : `, ${cpuUs.toFixed(2)} µs CPU a request`) +
    (result.non2xx || result.errors ? `, ${result.non2xx} non-2xx, ${result.errors} errors` : '') + '\n')
  return result
}

// Starts or stops event-loop delay measurement inside the service (bench/probe.ts, over IPC).
function probe<T> (service: Service, command: 'start' | 'stop'): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the probe did not answer')), 5000)
    service.child.once('message', (answer) => { clearTimeout(timer); resolve(answer as T) })
    service.child.send(command)
  })
}

async function main () {
  const dir = mkdtempSync(join(tmpdir(), 'auth-bench-'))
  const config = loadConfig({})
  const rows: Row[] = []
  const postgres = postgresDatabase()
  try {
    process.stderr.write(`load generator: ${tool}; ${pinning ? `servers pinned to CPU ${SERVER_CPU}, load generator to CPU ${LOAD_CPU}` : 'no CPU pinning'}\n`)

    // The services under test, as npm start runs them (log level info): 10 users, and 100,000; and the
    // first again at warn.
    const small = await startService(dir, 'small', 10)
    const large = await startService(dir, 'large', SCALE_USERS)
    const quiet = await startService(dir, 'quiet', 10, 'warn')
    // The same service on PostgreSQL (when a server answers): the same hot path, no I/O in it.
    const onPostgres = postgres && await startService(dir, 'postgres', 10, DEFAULT_LOG_LEVEL, postgres.url)
    if (!postgres) process.stderr.write('no PostgreSQL server at BENCH_POSTGRES_URL: its rows are skipped\n')
    const postgresTokens = onPostgres && writeLines(dir, 'postgres.tokens', await accessTokens(onPostgres, TOKENS))
    const smallTokens = writeLines(dir, 'small.tokens', await accessTokens(small, TOKENS))
    const quietTokens = writeLines(dir, 'quiet.tokens', await accessTokens(quiet, TOKENS))
    const largeTokens = writeLines(dir, 'large.tokens', await accessTokens(large, TOKENS))
    const smallLogins = writeLines(dir, 'small.logins', loginBodies(small.users, TOKENS))
    const largeLogins = writeLines(dir, 'large.logins', loginBodies(large.users, TOKENS))

    // Baselines 1 (bare Fastify without a logger, and with its default request logging at info) and 2.
    const barePort = await freePort()
    const bare = start(SERVER_CPU, process.execPath, [join(distBench, 'servers', 'bare-fastify.js')], { PORT: String(barePort) })
    const bareLoggedPort = await freePort()
    const bareLogged = start(SERVER_CPU, process.execPath, [join(distBench, 'servers', 'bare-fastify.js')], { PORT: String(bareLoggedPort), LOG: 'info' })
    const expressPort = await freePort()
    const secret = randomBytes(32).toString('hex')
    const express = start(SERVER_CPU, process.execPath, [join(distBench, 'servers', 'express-jwt.js')], { PORT: String(expressPort), BENCH_SECRET: secret })
    await waitForServer(`http://127.0.0.1:${barePort}/`, bare, (s) => s === 200)
    await waitForServer(`http://127.0.0.1:${bareLoggedPort}/`, bareLogged, (s) => s === 200)
    await waitForServer(`http://127.0.0.1:${expressPort}/`, express, (s) => s === 401)
    const expressTokens = writeLines(dir, 'express.tokens', Array.from({ length: TOKENS }, (_, i) =>
      jwt.sign({ sub: `user-${i % 10}`, username: `bench-user-${i % 10}`, jti: randomUUID() }, secret, { expiresIn: '1h' })))

    const url = (port: number, path = '/') => `http://127.0.0.1:${port}${path}`
    const greet = (port: number, linesFile: string) => ({ url: url(port), kind: 'bearer' as const, linesFile, connections: GREETING_CONNECTIONS, seconds: SECONDS })
    const login = (port: number, linesFile: string, seconds = SECONDS) => ({ url: url(port, '/login'), kind: 'json' as const, linesFile, connections: LOGIN_CONNECTIONS, seconds })

    // Warm-up, not recorded: every server gets its JIT work done before the first measured round.
    process.stderr.write('warm-up\n')
    for (const [port, tokens] of [[small.port, smallTokens], [quiet.port, quietTokens], [barePort, smallTokens], [bareLoggedPort, smallTokens], [expressPort, expressTokens], [large.port, largeTokens]] as const) {
      await runLoad({ ...greet(port, tokens), seconds: WARMUP_SECONDS })
    }
    if (onPostgres && postgresTokens) {
      await runLoad({ ...greet(onPostgres.port, postgresTokens), seconds: WARMUP_SECONDS })
      await runLoad(login(onPostgres.port, smallLogins, WARMUP_SECONDS))
    }
    await runLoad(login(small.port, smallLogins, WARMUP_SECONDS))
    await runLoad(login(large.port, largeLogins, WARMUP_SECONDS))

    // Each round runs every target once; the order rotates from round to round, and a pause lets the
    // previous server finish its own work (closing connections, collecting garbage) on the shared core, so
    // that no target always follows the same neighbour.
    const greetingTargets: Array<[string, () => Promise<unknown>]> = [
      ['ours', () => measure('greeting', 'ours', round, greet(small.port, smallTokens), small.child.pid)],
      ['bare-logged', () => measure('greeting', 'bare-fastify-logging', round, greet(bareLoggedPort, smallTokens), bareLogged.pid)],
      ['quiet', () => measure('greeting', 'ours-warn', round, greet(quiet.port, quietTokens), quiet.child.pid)],
      ['bare', () => measure('greeting', 'bare-fastify', round, greet(barePort, smallTokens), bare.pid)],
      ['express', () => measure('greeting', 'express-jsonwebtoken', round, greet(expressPort, expressTokens), express.pid)],
      ['large', () => measure('greeting', 'ours-100k-users', round, greet(large.port, largeTokens), large.child.pid)],
      ...(onPostgres && postgresTokens ? [['postgres', () => measure('greeting', 'ours-postgres', round, greet(onPostgres.port, postgresTokens), onPostgres.child.pid)] as [string, () => Promise<unknown>]] : [])
    ]
    const loginTargets: Array<[string, () => Promise<unknown>]> = [
      ['ours', () => measure('login', 'ours', round, login(small.port, smallLogins))],
      ['direct', async () => {
        const direct = await runJson<{ ops: number, seconds: number }>(SERVER_CPU, process.execPath, [join(distBench, 'argon2-direct.js'),
          String(LOGIN_CONNECTIONS), String(SECONDS), String(config.ARGON2_MEMORY_KIB), String(config.ARGON2_TIME_COST), String(config.ARGON2_PARALLELISM)])
        measurements.push({ scenario: 'login', target: 'argon2-direct', round, requests: direct.ops, rps: direct.ops / direct.seconds, p50Ms: 0, p99Ms: 0, non2xx: 0, errors: 0 })
        process.stderr.write(`  login argon2-direct round ${round}: ${(direct.ops / direct.seconds).toFixed(1)} verify/s\n`)
      }],
      ['large', () => measure('login', 'ours-100k-users', round, login(large.port, largeLogins))],
      ...(onPostgres ? [['postgres', () => measure('login', 'ours-postgres', round, login(onPostgres.port, smallLogins))] as [string, () => Promise<unknown>]] : [])
    ]
    let round = 0
    for (round = 1; round <= ROUNDS; round++) {
      process.stderr.write(`round ${round} of ${ROUNDS}\n`)
      for (const targets of [greetingTargets, loginTargets]) {
        for (let i = 0; i < targets.length; i++) {
          await targets[(i + round - 1) % targets.length][1]()
          await new Promise((resolve) => setTimeout(resolve, SETTLE_MS))
        }
      }
    }
    await stop(bare)
    await stop(bareLogged)
    await stop(express)
    await stop(quiet.child)
    if (onPostgres) await stop(onPostgres.child)

    // Login storm: logins at full rate while the protected route keeps being asked for.
    process.stderr.write('login storm\n')
    await probe(small, 'start')
    const [, stormGreeting] = await Promise.all([
      measure('storm', 'login', 1, login(small.port, smallLogins, STORM_SECONDS)),
      measure('storm', 'greeting', 1, { ...greet(small.port, smallTokens), connections: 4, seconds: STORM_SECONDS })
    ])
    const loop = await probe<{ p50: number, p99: number, max: number }>(small, 'stop')
    process.stderr.write(`  event-loop delay p99 ${loop.p99.toFixed(2)} ms (max ${loop.max.toFixed(1)} ms)\n`)

    await stop(small.child)
    await stop(large.child)

    // Memory: a fresh service under mixed load for two periods, RSS sampled every second. Garbage collection
    // makes RSS a saw-tooth (tens of MB within a minute), so one reading at each period's end would compare
    // two random points of it: the first period is judged by its highest sample, growth by comparing the
    // periods' medians.
    process.stderr.write('memory\n')
    const fresh = await startService(dir, 'memory', 10)
    const freshTokens = writeLines(dir, 'memory.tokens', await accessTokens(fresh, TOKENS))
    const mixed = async (round: number) => {
      const samples: number[] = []
      const sampler = setInterval(() => samples.push(rssMegabytes(fresh.child.pid!)), 1000)
      await Promise.all([
        measure('memory', 'greeting', round, { ...greet(fresh.port, freshTokens), connections: 16, seconds: MEMORY_SECONDS }),
        measure('memory', 'login', round, login(fresh.port, smallLogins, MEMORY_SECONDS))
      ])
      clearInterval(sampler)
      samples.push(rssMegabytes(fresh.child.pid!))
      return samples
    }
    const first = await mixed(1)
    const second = await mixed(2)
    const rssMax1 = Math.max(...first)
    const [rssMedian1, rssMedian2] = [median(first), median(second)]
    process.stderr.write(`  RSS first period: max ${rssMax1.toFixed(1)} MB, median ${rssMedian1.toFixed(1)} MB; second: median ${rssMedian2.toFixed(1)} MB\n`)
    await stop(fresh.child)

    // Cold start: from spawning the built service to its first successful login.
    process.stderr.write('cold start\n')
    const coldStarts: number[] = []
    for (let i = 0; i < COLD_STARTS; i++) {
      const port = await freePort()
      const begin = performance.now()
      const child = start(SERVER_CPU, process.execPath, [...SERVICE_NODE_FLAGS, ...fastifyStartArgs({ port, level: DEFAULT_LOG_LEVEL })],
        { ...NPM_START_ENV, ...SERVICE_SETTINGS, DATABASE_URL: `sqlite:${join(dir, `cold-${i}.db`)}`, ADMIN_USERNAME: 'bench-user-0', ADMIN_PASSWORD: BENCH_PASSWORD, ADMIN_PASSWORD_FILE: join(dir, 'cold.txt') })
      for (;;) {
        try {
          const res = await fetch(url(port, '/login'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'bench-user-0', password: BENCH_PASSWORD }) })
          if (res.status === 200) break
        } catch {}
        if (child.exitCode !== null || performance.now() - begin > 30_000) throw new Error('cold start failed')
        await new Promise((resolve) => setTimeout(resolve, 2))
      }
      coldStarts.push(performance.now() - begin)
      await stop(child)
    }
    process.stderr.write(`  ${coldStarts.map((ms) => ms.toFixed(0) + ' ms').join(', ')}\n`)

    // The table.
    const ratioRow = (metric: string, scenario: string, ours: string, baseline: string, min: number): Row => {
      const ratio = medianRatioOf(scenario, ours, baseline, rps)
      return { metric, ours: medianOf(scenario, ours, rps), baseline: medianOf(scenario, baseline, rps), ratio, target: `ratio ≥ ${min}`, met: ratio >= min }
    }
    // CPU µs per request (ours and the baseline's), judged by baseline µs / ours µs; throughput rows of
    // the same pairs stay in the table for information (on these shared machines req/s swing by 30 %
    // between rounds, CPU per request by about 10 %).
    const cpuRow = (metric: string, scenario: string, ours: string, baseline: string, min: number): Row => {
      const ratio = medianRatioOf(scenario, ours, baseline, perCpu)
      return { metric, ours: medianOf(scenario, ours, cpuOf), baseline: medianOf(scenario, baseline, cpuOf), ratio, target: `ratio ≥ ${min}`, met: ratio >= min }
    }
    const infoRow = (metric: string, scenario: string, ours: string, baseline: string): Row =>
      ({ metric, ours: medianOf(scenario, ours, rps), baseline: medianOf(scenario, baseline, rps), ratio: medianRatioOf(scenario, ours, baseline, rps), target: 'for information', met: null })
    const limitRow = (metric: string, ours: number, max: number, unit: string): Row =>
      ({ metric, ours, baseline: null, ratio: null, target: `< ${max} ${unit}`, met: ours < max })
    rows.push(
      cpuRow('GET / CPU µs a request, as npm start runs it (info, access line), vs bare Fastify logging at info', 'greeting', 'ours', 'bare-fastify-logging', 1.0),
      cpuRow('GET / CPU µs a request at FASTIFY_LOG_LEVEL=warn vs bare Fastify without a logger', 'greeting', 'ours-warn', 'bare-fastify', 0.9),
      cpuRow('GET / CPU µs a request vs Express + jsonwebtoken', 'greeting', 'ours', 'express-jsonwebtoken', 12),
      cpuRow('100k users: GET / CPU µs a request vs 10 users', 'greeting', 'ours-100k-users', 'ours', 0.9),
      infoRow('GET / req/s as npm start runs it vs bare Fastify logging at info', 'greeting', 'ours', 'bare-fastify-logging'),
      infoRow('GET / req/s at FASTIFY_LOG_LEVEL=warn vs bare Fastify without a logger', 'greeting', 'ours-warn', 'bare-fastify'),
      infoRow('GET / req/s vs Express + jsonwebtoken', 'greeting', 'ours', 'express-jsonwebtoken'),
      ratioRow('POST /login req/s vs argon2id verify direct', 'login', 'ours', 'argon2-direct', 0.9),
      limitRow('login storm: event-loop delay p99', loop.p99, 10, 'ms'),
      limitRow('login storm: GET / latency p99', stormGreeting.p99Ms, 20, 'ms'),
      ratioRow('100k users: POST /login req/s vs 10 users', 'login', 'ours-100k-users', 'ours', 0.9),
      limitRow(`RSS, highest in ${MEMORY_SECONDS} s of mixed load`, rssMax1, 150, 'MB'),
      { metric: `RSS median, next ${MEMORY_SECONDS} s vs first`, ours: rssMedian2, baseline: rssMedian1, ratio: rssMedian2 / rssMedian1, target: 'ratio ≤ 1.05', met: rssMedian2 / rssMedian1 <= 1.05 },
      limitRow('cold start to first login', median(coldStarts), 1000, 'ms')
    )
    if (onPostgres) {
      rows.push(
        cpuRow('PostgreSQL: GET / CPU µs a request vs the same on SQLite', 'greeting', 'ours-postgres', 'ours', 0.9),
        infoRow('PostgreSQL: GET / req/s vs the same on SQLite', 'greeting', 'ours-postgres', 'ours'),
        ratioRow('PostgreSQL: POST /login req/s vs argon2id verify direct', 'login', 'ours-postgres', 'argon2-direct', 0.9)
      )
    }
  } finally {
    stopAll()
    rmSync(dir, { recursive: true, force: true })
    try { postgres?.drop() } catch (err) { process.stderr.write(`could not drop the bench's PostgreSQL database: ${(err as Error).message}\n`) }
  }

  const failed = measurements.filter((m) => m.requests === 0 || m.non2xx > 0 || m.errors > 0)
  const fmt = (n: number | null) => n === null ? '–' : n >= 100 ? n.toFixed(0) : n.toFixed(2)
  const table = [
    '| metric | ours | baseline | ratio | target | met |',
    '|---|---:|---:|---:|---|---|',
    ...rows.map((r) => `| ${r.metric} | ${fmt(r.ours)} | ${fmt(r.baseline)} | ${fmt(r.ratio)} | ${r.target} | ${r.met === null ? '–' : r.met ? 'yes' : 'NO'} |`)
  ].join('\n')
  const setup = [
    `mode: ${quick ? 'quick (smoke test, figures not meaningful)' : `full, ${WARMUP_SECONDS} s warm-up per server, then ${ROUNDS} rounds of ${SECONDS} s, order rotated each round; req/s and µs are medians, ratios the median of each round's ratio`}`,
    'CPU µs a request: the server process\'s user + system time (/proc/PID/stat) over one load, divided by the requests the load generator counted; a CPU ratio is baseline µs / ours (above 1: ours is cheaper)',
    `load generator: ${tool}, ${GREETING_CONNECTIONS} connections for GET /, ${LOGIN_CONNECTIONS} for POST /login`,
    `pinning: ${pinning ? `servers on CPU ${SERVER_CPU}, load generator on CPU ${LOAD_CPU} (taskset)` : 'none (fewer than 2 CPUs or no taskset)'}`,
    `service settings: as npm start (log level ${DEFAULT_LOG_LEVEL}${Object.entries(SERVICE_SETTINGS).map(([k, v]) => `, ${k}=${v}`).join('')}; node ${SERVICE_NODE_FLAGS.join(' ')}; ${Object.entries(NPM_START_ENV).map(([k, v]) => `${k}=${v}`).join(' ')}), and one instance at FASTIFY_LOG_LEVEL=warn for the row that says so; every server's output drained through a pipe`,
    `protections switched off: ${PROTECTIONS_OFF.length ? PROTECTIONS_OFF.join('; ') : 'none'}`,
    `machine: ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}`
  ]
  process.stdout.write(`\n${setup.join('\n')}\n\n${table}\n\n` +
    (failed.length ? `FAILED: ${failed.length} measurements had errors or non-2xx answers\n` : 'every request of every measurement succeeded\n'))
  mkdirSync(dirname(jsonFile), { recursive: true })
  writeFileSync(jsonFile, JSON.stringify({ quick, tool, pinning, setup, rows, measurements, failed: failed.length }, null, 2) + '\n')
  if (failed.length) process.exitCode = 1
}

process.on('SIGINT', () => { stopAll(); process.exit(130) })
await main()
