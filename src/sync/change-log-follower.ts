import type { Change, ChangeLog } from '../store/change-log.js'
import type { Revoked } from '../store/sessions.js'

// What a process keeps in memory and how to bring it up to date: apply revocations, re-read the signing
// keys, or reload both from the store.
export interface ChangeHandlers {
  revoked (revoked: Revoked[]): void
  signingKeysChanged (): Promise<void>
  reload (): Promise<void>
}

const PAGE = 1000
// A process that has not caught up for this long may have missed changes the log no longer holds
// (CHANGE_RETENTION_MS, much longer): it reloads everything instead.
const RELOAD_AFTER_MS = 60 * 60 * 1000
export const CHANGE_RETENTION_MS = 24 * 60 * 60 * 1000

// Follows the change log from a cursor. Hints (Redis, NOTIFY) and a timer call catchUp(); hints carry
// nothing but "look": what a process believes it reads from the store, so whoever can publish a hint can
// at most make it read sooner. Runs one at a time; calls that arrive meanwhile are folded into one more
// run after it.
export class ChangeLogFollower {
  readonly #log: ChangeLog
  readonly #handlers: ChangeHandlers
  #cursor = 0
  // performance.now() of the last successful catch-up: how long ago, whatever any clock says.
  #succeededAt = -Infinity
  #reloadNext = true
  #running?: Promise<void>
  #again = false
  #failing = false

  constructor (log: ChangeLog, handlers: ChangeHandlers) {
    this.#log = log
    this.#handlers = handlers
  }

  // True while the last attempt to catch up failed (the store unreachable).
  get failing (): boolean { return this.#failing }

  // Milliseconds since the last successful catch-up (Infinity before the first).
  get behindMs (): number { return performance.now() - this.#succeededAt }

  // Brings memory up to date with the store: everything at the first call, after a failed reload, and
  // when the last catch-up is older than RELOAD_AFTER_MS; the changes since the cursor otherwise.
  catchUp (): Promise<void> {
    if (this.#running) {
      this.#again = true
      return this.#running
    }
    this.#running = this.#run().then(() => { this.#failing = false }, (err) => { this.#failing = true; throw err })
      .finally(() => { this.#running = undefined })
    return this.#running
  }

  async #run (): Promise<void> {
    do {
      this.#again = false
      const started = performance.now()
      if (this.#reloadNext || started - this.#succeededAt > RELOAD_AFTER_MS) {
        this.#reloadNext = false
        try {
          // The cursor first: a change committed during the reload is applied again by the next catch-up
          // rather than missed.
          const cursor = await this.#log.latest()
          await this.#handlers.reload()
          this.#cursor = Math.max(this.#cursor, cursor)
        } catch (err) {
          this.#reloadNext = true
          throw err
        }
      } else {
        await this.#follow()
      }
      this.#succeededAt = started
    } while (this.#again)
  }

  async #follow (): Promise<void> {
    for (;;) {
      const changes = await this.#log.after(this.#cursor, PAGE)
      if (changes.length === 0) return
      await this.#apply(changes)
      this.#cursor = changes[changes.length - 1].id
      if (changes.length < PAGE) return
    }
  }

  async #apply (changes: Change[]): Promise<void> {
    const revoked = changes.filter((c) => c.kind === 'session-revoked').map((c) => ({ id: c.subject, accessExpiresAt: c.until }))
    if (revoked.length > 0) this.#handlers.revoked(revoked)
    if (changes.some((c) => c.kind === 'signing-keys')) await this.#handlers.signingKeysChanged()
  }
}
