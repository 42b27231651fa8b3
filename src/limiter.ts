// Runs at most `concurrency` tasks at once and lets at most `maxQueued` more wait; beyond that it
// refuses at once (QueueFullError) rather than letting latency and memory grow without bound.
export class QueueFullError extends Error {
  constructor () { super('too much work queued') }
}

export class Limiter {
  readonly #concurrency: number
  readonly #maxQueued: number
  #running = 0
  readonly #waiting: Array<{ resolve: () => void, reject: (err: Error) => void }> = []
  #closed?: () => Error

  constructor (concurrency: number, maxQueued: number) {
    this.#concurrency = concurrency
    this.#maxQueued = maxQueued
  }

  async run<T> (task: () => Promise<T>): Promise<T> {
    if (this.#closed) throw this.#closed()
    if (this.#running >= this.#concurrency) {
      if (this.#waiting.length >= this.#maxQueued) throw new QueueFullError()
      await new Promise<void>((resolve, reject) => this.#waiting.push({ resolve, reject }))
    } else {
      this.#running++
    }
    try {
      return await task()
    } finally {
      // Hand the slot straight to the next waiter, so `running` never drops and rises again.
      const next = this.#waiting.shift()
      if (next) next.resolve()
      else this.#running--
    }
  }

  // Refuses every task still waiting, and every later one, with the error `refusal` makes; the running
  // ones finish.
  close (refusal: () => Error): number {
    this.#closed = refusal
    const waiting = this.#waiting.splice(0)
    for (const waiter of waiting) waiter.reject(refusal())
    return waiting.length
  }
}
