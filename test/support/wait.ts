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
