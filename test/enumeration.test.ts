import type { FastifyInstance } from 'fastify'
import type { LightMyRequestResponse } from 'fastify'
import t from 'tap'
import { addUser, build, PASSWORD, testEnv } from './support/index.js'

// Nothing in a failed login tells whether the user exists: not the status, the body, the headers, the
// throttling that follows nor the time taken.
// Date, and the seconds until the address's rate-limit window ends (each side's window began with its own
// first request, a few milliseconds apart, so the rounded figure may differ by one): compared apart.
const VARYING = new Set(['date', 'x-ratelimit-reset'])

function shape (res: LightMyRequestResponse) {
  const headers = Object.fromEntries(Object.entries(res.headers).filter(([name]) => !VARYING.has(name)))
  return { status: res.statusCode, body: res.body, headers }
}

const resetOf = (res: LightMyRequestResponse) => Number(res.headers['x-ratelimit-reset'] ?? 0)

async function timed (app: FastifyInstance, address: string, username: string, password: string) {
  const start = process.hrtime.bigint()
  const res = await app.inject({ method: 'POST', url: '/login', remoteAddress: address, headers: { 'user-agent': 'probe' }, payload: { username, password } })
  return { res, ms: Number(process.hrtime.bigint() - start) / 1e6 }
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]

t.test('25 alternating pairs of (unknown user, wrong password for a real user) answer alike, throttling included, in the same time', async (t) => {
  // 20 free failures, so that most pairs are hashed (their time is the one that could differ) and the last
  // five are throttled (429 with Retry-After: their shape must not differ either).
  const app = await build(t, testEnv(t, { LOGIN_THROTTLE_FREE_FAILURES: '20', LOGIN_THROTTLE_ACCOUNT_FAILURES: '1000' }))
  // The machine is shared and noisy: a round whose medians differ by more than 10 % is measured again,
  // up to three rounds. A real difference (say, no hash for unknown users) differs in every round.
  // Warm up both paths (JIT, the statement cache) outside the measurement.
  await addUser(app, 'warmup', PASSWORD)
  for (let i = 0; i < 5; i++) {
    await timed(app, '198.51.100.1', 'nobody-warmup', 'x'.repeat(12))
    await timed(app, '198.51.100.2', 'warmup', 'x'.repeat(12))
  }
  let spread = Infinity
  for (let round = 0; round < 3 && spread > 0.1; round++) {
    const real = `alice${round}`
    await addUser(app, real, PASSWORD)
    const unknownTimes: number[] = []
    const realTimes: number[] = []
    const statuses: number[] = []
    for (let i = 0; i < 25; i++) {
      // Each side from an address of its own: per-address counters (rate limits) then move alike too.
      const unknown = await timed(app, `198.51.100.${10 + round}`, `nobody${round}`, `wrong password ${i}`)
      const wrong = await timed(app, `198.51.100.${20 + round}`, real, `wrong password ${i}`)
      t.same(shape(unknown.res), shape(wrong.res), `round ${round + 1}, pair ${i + 1}: same status, body and headers`)
      t.ok(Math.abs(resetOf(unknown.res) - resetOf(wrong.res)) <= 1, 'the same rate-limit reset, to the second')
      unknownTimes.push(unknown.ms)
      realTimes.push(wrong.ms)
      statuses.push(wrong.res.statusCode)
    }
    t.same([...new Set(statuses)], [401, 429], 'hashed failures, then throttled ones')
    const [u, r] = [median(unknownTimes), median(realTimes)]
    spread = Math.abs(u - r) / Math.min(u, r)
    t.comment(`round ${round + 1}: median ${u.toFixed(1)} ms (unknown user) vs ${r.toFixed(1)} ms (wrong password), ${(spread * 100).toFixed(1)} % apart`)
  }
  t.ok(spread <= 0.1, 'the medians are within 10 % of each other')
})
