import { hash, verify, parseOptions } from '@node-rs/argon2'
import { randomBytes } from 'node:crypto'

export interface Argon2Params { memoryCost: number, timeCost: number, parallelism: number }

// @node-rs/argon2 declares Algorithm as a const enum, which a transpile-only loader cannot inline.
const ARGON2ID = 2

export const PASSWORD_MIN_LENGTH = 8
// Bounds the work an attacker can make us hash per request.
export const PASSWORD_MAX_LENGTH = 1024

export function passwordProblem (password: string): string | undefined {
  if (password.length < PASSWORD_MIN_LENGTH) return `password must be at least ${PASSWORD_MIN_LENGTH} characters`
  if (password.length > PASSWORD_MAX_LENGTH) return `password must be at most ${PASSWORD_MAX_LENGTH} characters`
  return undefined
}

export function randomPassword (): string {
  return randomBytes(24).toString('base64url')
}

export class PasswordHasher {
  readonly params: Argon2Params
  // Verified against when the user does not exist, so that an unknown username costs what a known one does.
  #dummyHash: Promise<string>

  constructor (params: Argon2Params) {
    this.params = params
    this.#dummyHash = this.hash(randomPassword())
  }

  hash (password: string): Promise<string> {
    return hash(password, { ...this.params, algorithm: ARGON2ID })
  }

  async verify (storedHash: string, password: string): Promise<boolean> {
    try {
      return await verify(storedHash, password)
    } catch {
      return false // a malformed stored hash never matches
    }
  }

  async burn (password: string): Promise<void> {
    await this.verify(await this.#dummyHash, password)
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
