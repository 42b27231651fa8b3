import t from 'tap'
import { Limiter, QueueFullError } from '../src/limiter.js'

const tick = () => new Promise((resolve) => setTimeout(resolve, 5))

t.test('never runs more than its concurrency at once, and runs everything', async (t) => {
  const limiter = new Limiter(2, 100)
  let running = 0
  let peak = 0
  const done = await Promise.all(Array.from({ length: 10 }, (_, i) => limiter.run(async () => {
    running++
    peak = Math.max(peak, running)
    await tick()
    running--
    return i
  })))
  t.equal(peak, 2)
  t.same(done, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
})

t.test('refuses at once when the queue is full, and recovers', async (t) => {
  const limiter = new Limiter(1, 1)
  const first = limiter.run(tick)
  const second = limiter.run(tick)
  await t.rejects(limiter.run(tick), new QueueFullError())
  await Promise.all([first, second])
  t.equal(await limiter.run(async () => 'ok'), 'ok')
})

t.test('a failing task frees its slot', async (t) => {
  const limiter = new Limiter(1, 10)
  await t.rejects(limiter.run(async () => { throw new Error('boom') }), { message: 'boom' })
  t.equal(await limiter.run(async () => 'next'), 'next')
})
