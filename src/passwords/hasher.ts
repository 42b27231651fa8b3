import { hash, verify, parseOptions } from '@node-rs/argon2'
import { randomBytes } from 'node:crypto'
import { availableParallelism } from 'node:os'
import type { Config } from '../config/schema.js'
import { HashQueue, type Flow } from './hash-queue.js'

export interface Argon2Params { memoryCost: number, timeCost: number, parallelism: number }

// @node-rs/argon2 declares Algorithm as a const enum, which a transpile-only loader cannot inline.
const ARGON2ID = 2

// What is hashed and verified: the NFKC form, so that every keyboard's spelling of a password (composed or
// decomposed accents, full-width forms) is the same password (NIST SP 800-63B §5.1.1.2).
export function normalizePassword (password: string): string {
  return password.normalize('NFKC')
}

export function randomPassword (): string {
  return randomBytes(24).toString('base64url')
}

// Hashing runs on libuv's thread pool. Left unbounded, a login storm puts every pool thread to work on
// argon2 and the event loop waits for a core; so at most `concurrency` hashes run at once (by default one
// core fewer than the process may use), and at most `maxQueued` wait, beyond which QueueFullError.
export class PasswordHasher {
  readonly params: Argon2Params
  readonly #queue: HashQueue
  // Verified against when the user does not exist, so that an unknown username costs what a known one does.
  #dummyHash: Promise<string>
  #verifications = 0
  #hashes = 0

  constructor (params: Argon2Params, limits: { concurrency: number, maxQueued: number }) {
    this.params = params
    // One client may hold a twentieth of the queue (at least 4): a flood from one address cannot fill it.
    this.#queue = new HashQueue(limits.concurrency, limits.maxQueued, Math.max(4, Math.ceil(limits.maxQueued / 20)))
    this.#dummyHash = hash(randomPassword(), { ...this.params, algorithm: ARGON2ID })
  }

  hash (password: string): Promise<string> {
    return this.#queue.run(() => {
      this.#hashes++
      return hash(password, { ...this.params, algorithm: ARGON2ID })
    })
  }

  // `flow` says whose login this is, for fair scheduling (src/passwords/hash-queue.ts).
  verify (storedHash: string, password: string, flow?: Flow): Promise<boolean> {
    // A malformed stored hash never matches.
    return this.#queue.run(() => {
      this.#verifications++
      return verify(storedHash, password).catch(() => false)
    }, flow)
  }

  // At the end of a shutdown's grace: logins still waiting for a hashing slot are refused with `refusal()`.
  refuseWaiting (refusal: () => Error): number {
    return this.#queue.close(refusal)
  }

  // How many verifications have run: the work done for logins, known user or not.
  get verifications (): number {
    return this.#verifications
  }

  // How many hashes have been made (new passwords, upgrades at login).
  get hashes (): number {
    return this.#hashes
  }

  async burn (password: string, flow?: Flow): Promise<void> {
    await this.verify(await this.#dummyHash, password, flow)
  }

  // Hashes (verifications included) running now, and waiting for a slot.
  get running (): number {
    return this.#queue.running
  }

  get queued (): number {
    return this.#queue.waiting
  }

  // Clients and accounts with logins waiting or running (bounded by the queue).
  get flowCount (): number {
    return this.#queue.flowCount
  }

  // True when the stored hash is weaker than the configured parameters (or not argon2id at all).
  needsRehash (storedHash: string): boolean {
    try {
      const p = parseOptions(storedHash)
      return p.algorithm !== ARGON2ID ||
        p.memoryCost < this.params.memoryCost ||
        p.timeCost < this.params.timeCost ||
        p.parallelism < this.params.parallelism
    } catch {
      return true
    }
  }
}

export function hasherFromConfig (config: Config): PasswordHasher {
  return new PasswordHasher(
    { memoryCost: config.ARGON2_MEMORY_KIB, timeCost: config.ARGON2_TIME_COST, parallelism: config.ARGON2_PARALLELISM },
    { concurrency: config.HASH_CONCURRENCY ?? Math.max(1, availableParallelism() - 1), maxQueued: config.HASH_QUEUE_LIMIT })
}
