// Runs at most `concurrency` tasks at once and lets at most `maxQueued` more wait; beyond that it
// refuses at once (QueueFullError) rather than letting latency and memory grow without bound.
//
// Waiting tasks are not served first come, first served but fairly (docs/security.md, "Abuse resistance"): a task may
// name the flows it belongs to (for a login: its client address and the account it is for) and whether it
// is `suspect` (its address has already failed on that account). The next slot goes to a task that is not
// suspect if there is one, then to the task whose busiest flow has started the fewest tasks so far, then
// to the oldest. So a flood from one address, or for one account from many addresses, takes turns with
// everybody else instead of standing in front of them; and one client may hold at most `maxQueuedPerFlow`
// waiting tasks (FlowQueueFullError), so it cannot fill the queue either.
export class QueueFullError extends Error {
  constructor () { super('too much work queued') }
}

export class FlowQueueFullError extends Error {
  constructor () { super('too much work queued for one client') }
}

// A login's flows: the client's address and the account it is for. Both count for fairness; only the client
// is capped, so that guesses for an account from elsewhere can never fill that account's share of the queue.
export interface Flow {
  keys: [client: string, account?: string]
  suspect?: boolean
}

interface Waiter {
  flow?: Flow
  seq: number
  resolve: () => void
  reject: (err: Error) => void
}

export class HashQueue {
  readonly #concurrency: number
  readonly #maxQueued: number
  readonly #maxQueuedPerFlow: number
  #running = 0
  #seq = 0
  readonly #waiting: Waiter[] = []
  // Per flow key: tasks started while the flow was busy, and tasks waiting or running. Forgotten when the
  // flow has nothing waiting or running, so the map holds at most the flows of queued and running tasks.
  readonly #flows = new Map<string, { started: number, active: number, waiting: number }>()
  #closed?: () => Error

  constructor (concurrency: number, maxQueued: number, maxQueuedPerFlow = maxQueued) {
    this.#concurrency = concurrency
    this.#maxQueued = maxQueued
    this.#maxQueuedPerFlow = maxQueuedPerFlow
  }

  async run<T> (task: () => Promise<T>, flow?: Flow): Promise<T> {
    if (this.#closed) throw this.#closed()
    if (this.#running >= this.#concurrency) {
      if (this.#waiting.length >= this.#maxQueued) throw new QueueFullError()
      if (flow && (this.#flows.get(flow.keys[0])?.waiting ?? 0) >= this.#maxQueuedPerFlow) throw new FlowQueueFullError()
      this.#enter(flow, true)
      await new Promise<void>((resolve, reject) => this.#waiting.push({ flow, seq: this.#seq++, resolve, reject }))
    } else {
      this.#enter(flow, false)
      this.#started(flow)
      this.#running++
    }
    try {
      return await task()
    } finally {
      this.#leave(flow)
      // Hand the slot straight to the next waiter, so `running` never drops and rises again.
      const next = this.#next()
      if (next) {
        this.#started(next.flow)
        next.resolve()
      } else {
        this.#running--
      }
    }
  }

  // Refuses every task still waiting, and every later one, with the error `refusal` makes; the running
  // ones finish.
  close (refusal: () => Error): number {
    this.#closed = refusal
    const waiting = this.#waiting.splice(0)
    for (const waiter of waiting) {
      this.#leave(waiter.flow, true)
      waiter.reject(refusal())
    }
    return waiting.length
  }

  // Tasks running now, and waiting for a slot (metrics read them at scrape time).
  get running (): number {
    return this.#running
  }

  get waiting (): number {
    return this.#waiting.length
  }

  // Flows being tracked (for tests and metrics): bounded by the tasks waiting and running.
  get flowCount (): number {
    return this.#flows.size
  }

  #enter (flow: Flow | undefined, waiting: boolean): void {
    for (const key of keysOf(flow)) {
      const state = this.#flows.get(key) ?? { started: 0, active: 0, waiting: 0 }
      state.active++
      if (waiting) state.waiting++
      this.#flows.set(key, state)
    }
  }

  #started (flow: Flow | undefined): void {
    for (const key of keysOf(flow)) this.#flows.get(key)!.started++
  }

  #leave (flow: Flow | undefined, unstarted = false): void {
    for (const key of keysOf(flow)) {
      const state = this.#flows.get(key)!
      if (unstarted) state.waiting--
      if (--state.active === 0) this.#flows.delete(key)
    }
  }

  // The waiter to run next (and out of the queue): not suspect first, then the least-served busiest flow,
  // then the oldest. A linear scan: the queue is bounded by maxQueued, and each task is a password hash.
  #next (): Waiter | undefined {
    let best = -1
    let bestRank: [number, number, number] | undefined
    for (let i = 0; i < this.#waiting.length; i++) {
      const waiter = this.#waiting[i]
      let served = 0
      for (const key of keysOf(waiter.flow)) served = Math.max(served, this.#flows.get(key)!.started)
      const rank: [number, number, number] = [waiter.flow?.suspect ? 1 : 0, served, waiter.seq]
      if (!bestRank || rank[0] < bestRank[0] || (rank[0] === bestRank[0] && (rank[1] < bestRank[1] || (rank[1] === bestRank[1] && rank[2] < bestRank[2])))) {
        best = i
        bestRank = rank
      }
    }
    if (best < 0) return undefined
    const [waiter] = this.#waiting.splice(best, 1)
    for (const key of keysOf(waiter.flow)) this.#flows.get(key)!.waiting--
    return waiter
  }
}

function keysOf (flow: Flow | undefined): string[] {
  if (!flow) return []
  return flow.keys[1] === undefined ? [flow.keys[0]] : [flow.keys[0], flow.keys[1]]
}
