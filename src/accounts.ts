import { randomUUID } from 'node:crypto'
import type { PasswordHasher } from './passwords.js'
import { passwordProblem } from './passwords.js'
import type { User, UserStore } from './store/users.js'
import { normalizeUsername, usernameKey, usernameProblem } from './usernames.js'

export class AccountError extends Error {}

// What login, bootstrap and the CLI do with users, over the store and the password hasher.
export class Accounts {
  readonly #users: UserStore
  readonly #hasher: PasswordHasher

  constructor (users: UserStore, hasher: PasswordHasher) {
    this.#users = users
    this.#hasher = hasher
  }

  find (username: string): Promise<User | undefined> {
    return this.#users.findByKey(usernameKey(username))
  }

  // The user when the credentials are right and the account is enabled; otherwise undefined, after the
  // same hashing work whichever check failed, so that timing does not tell whether the user exists.
  async authenticate (username: string, password: string): Promise<User | undefined> {
    const user = await this.find(username)
    if (!user) {
      await this.#hasher.burn(password)
      return undefined
    }
    const ok = await this.#hasher.verify(user.passwordHash, password)
    if (!ok || user.disabled) return undefined
    if (this.#hasher.needsRehash(user.passwordHash)) {
      // Configured parameters were raised since this hash was made: upgrade while we hold the password.
      const passwordHash = await this.#hasher.hash(password)
      await this.#users.update(user.id, { passwordHash })
      return { ...user, passwordHash }
    }
    return user
  }

  async create (username: string, password: string): Promise<User> {
    const problem = usernameProblem(username) ?? passwordProblem(password)
    if (problem) throw new AccountError(problem)
    const name = normalizeUsername(username)
    return this.#users.insert({ id: randomUUID(), username: name, key: usernameKey(name), passwordHash: await this.#hasher.hash(password) })
  }

  async setPassword (username: string, password: string): Promise<void> {
    const problem = passwordProblem(password)
    if (problem) throw new AccountError(problem)
    const user = await this.#existing(username)
    await this.#users.update(user.id, { passwordHash: await this.#hasher.hash(password) })
  }

  async setDisabled (username: string, disabled: boolean): Promise<void> {
    const user = await this.#existing(username)
    await this.#users.update(user.id, { disabled })
  }

  list (): Promise<User[]> {
    return this.#users.list()
  }

  count (): Promise<number> {
    return this.#users.count()
  }

  async #existing (username: string): Promise<User> {
    const user = await this.find(username)
    if (!user) throw new AccountError(`no user named "${username}"`)
    return user
  }
}
