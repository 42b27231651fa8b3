import { hash } from '@node-rs/argon2'
import t from 'tap'
import { FlowQueueFullError, HashQueue, QueueFullError } from '../src/passwords/hash-queue.js'
import { PasswordHasher } from '../src/passwords/hasher.js'

const tick = () => new Promise((resolve) => setTimeout(resolve, 5))

t.test('never runs more than its concurrency at once, and runs everything', async (t) => {
  const limiter = new HashQueue(2, 100)
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
  const limiter = new HashQueue(1, 1)
  const first = limiter.run(tick)
  const second = limiter.run(tick)
  await t.rejects(limiter.run(tick), new QueueFullError())
  await Promise.all([first, second])
  t.equal(await limiter.run(async () => 'ok'), 'ok')
})

t.test('a failing task frees its slot', async (t) => {
  const limiter = new HashQueue(1, 10)
  await t.rejects(limiter.run(async () => { throw new Error('boom') }), { message: 'boom' })
  t.equal(await limiter.run(async () => 'next'), 'next')
})

// A task that runs until the test lets it finish.
function held () {
  let release!: () => void
  const done = new Promise<void>((resolve) => { release = resolve })
  return { task: () => done, release }
}

// Settles to what the task's promise did: 'done', or the error's class name; 'waiting' while it waits.
function watch (promise: Promise<unknown>) {
  let state = 'waiting'
  promise.then(() => { state = 'done' }, (err: Error) => { state = err.constructor.name })
  return () => state
}

const settle = () => new Promise((resolve) => setImmediate(resolve))

t.test('one client may hold at most its share of the waiting tasks: refused beyond it at once, other clients still queue', async (t) => {
  const limiter = new HashQueue(1, 100, 3)
  const running = held()
  const first = watch(limiter.run(running.task, { keys: ['c:a', 'a:alice'] }))
  // The client's running task is not in its share: three more of its tasks may wait.
  const waiting = Array.from({ length: 3 }, (_, i) => watch(limiter.run(async () => {}, { keys: ['c:a', `a:name-${i}`] })))
  const beyond = watch(limiter.run(async () => {}, { keys: ['c:a', 'a:another'] }))
  const other = watch(limiter.run(async () => {}, { keys: ['c:b', 'a:bob'] }))
  const unflowed = watch(limiter.run(async () => {}))
  await settle()
  t.same(waiting.map((w) => w()), ['waiting', 'waiting', 'waiting'], 'three of its tasks wait')
  t.equal(beyond(), 'FlowQueueFullError', 'the fourth is refused at once')
  t.equal(other(), 'waiting', 'another client still queues')
  t.equal(unflowed(), 'waiting', 'and a task of no flow')
  t.equal(limiter.waiting, 5)

  // Only the client is capped: guesses for one account from many addresses queue, so that they can never
  // fill that account's share and shut its real user out.
  const forRoot = Array.from({ length: 6 }, (_, i) => watch(limiter.run(async () => {}, { keys: [`c:${i + 10}`, 'a:root'] })))
  await settle()
  t.same(forRoot.map((w) => w()), Array(6).fill('waiting'), 'six tasks for one account from six clients all wait')

  running.release()
  await settle()
  t.equal(first(), 'done')
  t.same([...waiting.map((w) => w()), other(), unflowed(), ...forRoot.map((w) => w())], Array(11).fill('done'), 'every waiting task runs')
  t.equal(limiter.flowCount, 0, 'and nothing is kept of the flows')
  t.equal(await limiter.run(async () => 'again', { keys: ['c:a'] }), 'again', 'the client may queue again')
})

t.test("a client's share frees as its tasks leave the queue", async (t) => {
  const limiter = new HashQueue(1, 100, 2)
  const running = held()
  const blocker = limiter.run(running.task, { keys: ['c:z'] })
  const a1 = held()
  const a2 = held()
  const first = limiter.run(a1.task, { keys: ['c:a'] })
  const second = limiter.run(a2.task, { keys: ['c:a'] })
  await t.rejects(limiter.run(async () => {}, { keys: ['c:a'] }), new FlowQueueFullError(), 'its share (2) is full')
  running.release()
  await blocker
  await settle()
  // One of its tasks runs now, one waits: one place in its share again.
  const third = watch(limiter.run(async () => {}, { keys: ['c:a'] }))
  await t.rejects(limiter.run(async () => {}, { keys: ['c:a'] }), new FlowQueueFullError(), 'and only one')
  a1.release()
  a2.release()
  await Promise.all([first, second])
  await settle()
  t.equal(third(), 'done')
})

t.test('the hashing queue gives one client a twentieth of HASH_QUEUE_LIMIT, at least 4', async (t) => {
  const stored = await hash('the password', { algorithm: 2, memoryCost: 256, timeCost: 1, parallelism: 1 })
  for (const [maxQueued, share] of [[100, 5], [1000, 50], [40, 4], [10, 4]]) {
    const hasher = new PasswordHasher({ memoryCost: 256, timeCost: 1, parallelism: 1 }, { concurrency: 1, maxQueued })
    // All in one turn of the event loop: the first runs, the others find the slot taken.
    const running = hasher.verify(stored, 'the password', { keys: ['c:other'] })
    const mine = Array.from({ length: share + 1 }, () => hasher.verify(stored, 'a guess', { keys: ['c:flooder', 'a:made-up'] }))
    const results = await Promise.allSettled([running, ...mine])
    const refused = results.filter((r) => r.status === 'rejected')
    t.equal(refused.length, 1, `HASH_QUEUE_LIMIT ${maxQueued}: ${share} of one client's verifications wait, the next is refused`)
    t.type((refused[0] as PromiseRejectedResult | undefined)?.reason, FlowQueueFullError, `HASH_QUEUE_LIMIT ${maxQueued}: refused for the client's share`)
    t.same(results.slice(0, share + 1).map((r) => r.status), Array(share + 1).fill('fulfilled'), `HASH_QUEUE_LIMIT ${maxQueued}: those within it are verified`)
  }
})
