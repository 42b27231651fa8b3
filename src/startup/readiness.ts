import { setTimeout as sleep } from 'node:timers/promises'
import { isStoreUnavailable } from '../store/dialect.js'
import { checkSequence, STARTUP_SEQUENCE, StartupSequenceError, type StartupStep } from './sequence.js'

export type StartupReport = (level: 'info' | 'warn' | 'error', fields: Record<string, unknown>, message: string) => void

const FIRST_RETRY_MS = 250
const LAST_RETRY_MS = 5000

// What the service must do before it can answer truthfully (bring the store's schema up to date, load the
// keys, make the first admin, load its secrets, catch up with the change log), run after the server
// listens, step by step, in the order of the start-up sequence (src/startup/sequence.ts). A step that fails because a dependency is not
// reachable (the store down, a connection refused or timed out) is retried with a back-off, with one log
// line an attempt; any other failure (a wrong key, a schema that cannot migrate) is fatal. Steps must be
// safe to run again.
export class Readiness {
  readonly #sequence: readonly StartupStep[]
  readonly #runs = new Map<string, () => Promise<void>>()
  readonly #checks: Array<() => string | undefined> = []
  readonly #degradations: Array<() => string[]> = []
  #started = false
  #closing = false
  #failure?: unknown
  #waiting = 'starting'
  readonly #ready = Promise.withResolvers<void>()

  // Refuses a sequence out of order (a StartupSequenceError): the service does not start.
  constructor (sequence: readonly StartupStep[] = STARTUP_SEQUENCE) {
    checkSequence(sequence)
    this.#sequence = sequence
    this.#ready.promise.catch(() => {}) // observed through whenReady(); never an unhandled rejection
  }

  // True once every step has succeeded; stays true (what was loaded stays in memory) until shutdown.
  get started (): boolean { return this.#started }

  // The work of one step of the sequence. A name the sequence does not list, or a step given twice, is a
  // StartupSequenceError: the plugin that registers it fails, and with it the start.
  step (name: string, run: () => Promise<void>): void {
    if (this.#started) throw new StartupSequenceError(`start-up step "${name}" added after start`)
    if (!this.#sequence.some((step) => step.name === name)) {
      throw new StartupSequenceError(`unknown start-up step "${name}": the sequence is ${this.#sequence.map((s) => s.name).join(', ')} (src/startup/sequence.ts)`)
    }
    if (this.#runs.has(name)) throw new StartupSequenceError(`start-up step "${name}" registered twice`)
    this.#runs.set(name, run)
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

  // `lastly` runs once every step is done, before the service says it is ready (plugins/readiness.ts gives
  // back start-up's garbage there, so that no request waits for it).
  async run (report: StartupReport, lastly?: () => void): Promise<void> {
    const missing = this.#sequence.filter((step) => !this.#runs.has(step.name)).map((step) => step.name)
    if (missing.length > 0) {
      this.#failure = new StartupSequenceError(`start-up step${missing.length > 1 ? 's' : ''} ${missing.map((m) => `"${m}"`).join(', ')} registered by no plugin`)
      this.#ready.reject(this.#failure)
      return
    }
    for (const step of this.#sequence) {
      const run = this.#runs.get(step.name)!
      for (let attempt = 1; ; attempt++) {
        if (this.#closing) return
        try {
          await run()
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
    lastly?.()
    this.#started = true
    this.#ready.resolve()
  }
}
