import type { Test } from 'tap'

// Milliseconds until `check` holds, polling every 20 ms: a passing assertion that says how long it took,
// or a failing one past `limitMs` (Infinity).
export async function within (t: Test, limitMs: number, what: string, check: () => Promise<boolean>): Promise<number> {
  const started = Date.now()
  for (;;) {
    if (await check().catch(() => false)) {
      const elapsed = Date.now() - started
      t.ok(elapsed <= limitMs, `${what} after ${elapsed} ms (at most ${limitMs})`)
      return elapsed
    }
    if (Date.now() - started > limitMs + 2000) {
      t.fail(`${what}: not within ${limitMs} ms`)
      return Infinity
    }
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

// Holds the event loop in 300 ms blocks for `ms`, yielding between them, so that @fastify/under-pressure
// (MAX_EVENT_LOOP_DELAY below 300) samples a lagging loop and answers 503 `overloaded`.
export async function holdEventLoop (ms = 2000): Promise<void> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    const stop = Date.now() + 300
    while (Date.now() < stop) { /* the event loop is held */ }
    await new Promise((resolve) => setImmediate(resolve))
  }
}
