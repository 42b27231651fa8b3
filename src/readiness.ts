import { setTimeout as sleep } from 'node:timers/promises'
import { isStoreUnavailable } from './store/dialect.js'

export type StartupReport = (level: 'info' | 'warn' | 'error', fields: Record<string, unknown>, message: string) => void

interface Step { name: string, run: () => Promise<void> }

const FIRST_RETRY_MS = 250
const LAST_RETRY_MS = 5000

// What the service must do before it can answer truthfully (bring the store's schema up to date, load the
// keys, make the first admin, load its secrets, catch up with the change log), run after the server
// listens, step by step, in the order the steps were added. A step that fails because a dependency is not
// reachable (the store down, a connection refused or timed out) is retried with a back-off, with one log
// line an attempt; any other failure (a wrong key, a schema that cannot migrate) is fatal. Steps must be
// safe to run again.
export class Readiness {
  readonly #steps: Step[] = []
  readonly #checks: Array<() => string | undefined> = []
  readonly #degradations: Array<() => string[]> = []
  #started = false
  #closing = false
  #failure?: unknown
  #waiting = 'starting'
  readonly #ready = Promise.withResolvers<void>()

  constructor () {
    this.#ready.promise.catch(() => {}) // observed through whenReady(); never an unhandled rejection
  }

  // True once every step has succeeded; stays true (what was loaded stays in memory) until shutdown.
  get started (): boolean { return this.#started }
  get closing (): boolean { return this.#closing }

  step (name: string, run: () => Promise<void>): void {
    if (this.#started) throw new Error(`startup step ${name} added after start`)
    this.#steps.push({ name, run })
  }

  // A condition for readiness once started (the change feed caught up, …): a reason, or undefined.
  check (check: () => string | undefined): void {
    this.#checks.push(check)
  }

  // Something that works less well than it should without making the answers untrue (a hint path down
  // while another path, or polling, carries the news): said in readiness's body, never a 503.
  degradation (check: () => string[]): void {
    this.#degradations.push(check)
  }

  whenReady (): Promise<void> { return this.#ready.promise }

  // Why the service is not ready, or [] when it is.
  reasons (): string[] {
    if (this.#closing) return ['shutting down']
    if (this.#failure !== undefined) return ['start-up failed']
    if (!this.#started) return [this.#waiting]
    return this.#checks.map((check) => check()).filter((r): r is string => r !== undefined)
  }

  // What is degraded now ([] when nothing is).
  degraded (): string[] {
    return this.#degradations.flatMap((check) => check())
  }

  close (): void {
    this.#closing = true
  }

  async run (report: StartupReport): Promise<void> {
    for (const step of this.#steps) {
      for (let attempt = 1; ; attempt++) {
        if (this.#closing) return
        try {
          await step.run()
          if (attempt > 1) report('info', { step: step.name, attempt }, `start-up: ${step.name} done after ${attempt} attempts`)
          break
        } catch (err) {
          if (!isStoreUnavailable(err)) {
            this.#failure = err
            this.#ready.reject(err)
            return
          }
          const retryInMs = Math.min(FIRST_RETRY_MS * 2 ** (attempt - 1), LAST_RETRY_MS)
          this.#waiting = `starting: ${step.name} is waiting for the store`
          report('warn', { step: step.name, attempt, retryInMs, reason: (err as Error).message },
            `start-up: ${step.name} cannot reach the store yet (attempt ${attempt}); retrying in ${retryInMs} ms`)
          await sleep(retryInMs, undefined, { ref: false }) // never what keeps a closing process alive
        }
      }
    }
    this.#started = true
    this.#ready.resolve()
  }
}
