import { randomUUID } from 'node:crypto'
import type { PasswordHasher } from './passwords.js'
import { passwordProblem } from './passwords.js'
import type { Sessions } from './sessions.js'
import type { User, UserStore } from './store/users.js'
import { normalizeUsername, usernameKey, usernameProblem } from './usernames.js'

// A request the domain refuses, with a message fit for the person who made it.
export class AccountError extends Error {}
export class WrongPasswordError extends Error {}

// What login, signup, the account routes, bootstrap and the CLI do with users.
export class Accounts {
  readonly #users: UserStore
  readonly #hasher: PasswordHasher
  readonly #sessions: Sessions

  constructor (users: UserStore, hasher: PasswordHasher, sessions: Sessions) {
    this.#users = users
    this.#hasher = hasher
    this.#sessions = sessions
  }

  find (username: string): Promise<User | undefined> {
    return this.#users.findByKey(usernameKey(username))
  }

  findById (id: string): Promise<User | undefined> {
    return this.#users.findById(id)
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

  async create (username: string, password: string, roles: string[] = []): Promise<User> {
    const problem = usernameProblem(username) ?? passwordProblem(password)
    if (problem) throw new AccountError(problem)
    const name = normalizeUsername(username)
    return this.#users.insert({ id: randomUUID(), username: name, key: usernameKey(name), passwordHash: await this.#hasher.hash(password), roles })
  }

  // The user's own change: the current password must be right, and every other session ends.
  async changePassword (userId: string, currentPassword: string, newPassword: string, currentSessionId: string): Promise<void> {
    const user = await this.#users.findById(userId)
    if (!user || user.disabled || !await this.#hasher.verify(user.passwordHash, currentPassword)) throw new WrongPasswordError()
    const problem = passwordProblem(newPassword)
    if (problem) throw new AccountError(`newPassword: ${problem}`)
    await this.#users.update(user.id, { passwordHash: await this.#hasher.hash(newPassword) })
    await this.#sessions.revoke({ userId: user.id, exceptSessionId: currentSessionId }, 'password-changed')
  }

  // An operator's reset (CLI): every session of the user ends.
  async setPassword (username: string, password: string): Promise<void> {
    const problem = passwordProblem(password)
    if (problem) throw new AccountError(problem)
    const user = await this.#existing(username)
    await this.#users.update(user.id, { passwordHash: await this.#hasher.hash(password) })
    await this.#sessions.revoke({ userId: user.id }, 'password-reset')
  }

  // Disabling ends every session of the user at once; enabling lets them log in again.
  async setDisabled (user: User, disabled: boolean): Promise<void> {
    await this.#users.update(user.id, { disabled })
    if (disabled) await this.#sessions.revoke({ userId: user.id }, 'user-disabled')
  }

  async setDisabledByName (username: string, disabled: boolean): Promise<void> {
    await this.setDisabled(await this.#existing(username), disabled)
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
