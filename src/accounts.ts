import { randomUUID } from 'node:crypto'
import { DomainError } from './errors.js'
import type { PasswordHasher } from './passwords.js'
import { normalizePassword, passwordProblem } from './passwords.js'
import type { Sessions } from './sessions.js'
import type { CredentialChange, User, UserStore } from './store/users.js'
import { normalizeUsername, usernameKey, usernameProblem, usernameSkeleton } from './usernames.js'

// A request the domain refuses, with a message fit for the person who made it.
export class AccountError extends DomainError {
  constructor (message: string) { super('invalid', message) }
}
export class WrongPasswordError extends DomainError {
  constructor () { super('unauthorized', 'Invalid credentials', 'login_failed') }
}
export class NoSuchUserError extends DomainError {
  constructor (what: string) { super('not-found', what) }
}

// What login, signup, the account routes, bootstrap and the CLI do with users.
export class Accounts {
  readonly #users: UserStore
  readonly #hasher: PasswordHasher
  readonly #sessions: Sessions
  readonly #now: () => number

  constructor (users: UserStore, hasher: PasswordHasher, sessions: Sessions, now = () => Date.now()) {
    this.#users = users
    this.#hasher = hasher
    this.#sessions = sessions
    this.#now = now
  }

  find (username: string): Promise<User | undefined> {
    return this.#users.findByKey(usernameKey(username))
  }

  findById (id: string): Promise<User | undefined> {
    return this.#users.findById(id)
  }

  // The user when the credentials are right and the account is enabled; otherwise undefined, after the
  // same hashing work whichever check failed, so that timing does not tell whether the user exists.
  // The user returned carries the credentials version that was checked: a session is started only if it
  // is still current (Sessions.start).
  async authenticate (username: string, password: string): Promise<User | undefined> {
    const user = await this.find(username)
    if (!user) {
      await this.#hasher.burn(normalizePassword(password))
      return undefined
    }
    if (!await this.#verify(user, password) || user.disabled) return undefined
    if (!user.passwordNormalized || this.#hasher.needsRehash(user.passwordHash)) {
      // A hash of the raw form (made before passwords were normalised), or weaker than the configured
      // parameters: upgrade it while we hold the password, unless the credentials changed meanwhile.
      const passwordHash = await this.#hasher.hash(normalizePassword(password))
      await this.#users.rehash(user.id, user.credentialsVersion, passwordHash, this.#iso())
      return { ...user, passwordHash, passwordNormalized: true }
    }
    return user
  }

  // A new user: the name must follow the rules for new names (usernameProblem: length, characters, one
  // script) and be neither taken nor like a taken one (the store checks, UsernameTakenError).
  async create (username: string, password: string, roles: string[] = []): Promise<User> {
    const problem = usernameProblem(username) ?? passwordProblem(password)
    if (problem) throw new AccountError(problem)
    const name = normalizeUsername(username)
    const passwordHash = await this.#hasher.hash(normalizePassword(password))
    return this.#users.insert({ id: randomUUID(), username: name, key: usernameKey(name), skeleton: usernameSkeleton(name), passwordHash, roles }, this.#iso())
  }

  // The user's own change: the current password must be right. Every other session ends, logins in flight
  // with the old password included; the session that made the change carries on.
  async changePassword (userId: string, currentPassword: string, newPassword: string, currentSessionId: string): Promise<void> {
    const user = await this.#users.findById(userId)
    if (!user || user.disabled || !await this.#verify(user, currentPassword)) throw new WrongPasswordError()
    const problem = passwordProblem(newPassword)
    if (problem) throw new AccountError(`newPassword: ${problem}`)
    await this.#change(user.id, { passwordHash: await this.#hasher.hash(normalizePassword(newPassword)) }, 'password-changed',
      { sessionId: currentSessionId, checkedVersion: user.credentialsVersion })
  }

  // An operator's reset (CLI): every session of the user ends.
  async setPassword (username: string, password: string): Promise<void> {
    const problem = passwordProblem(password)
    if (problem) throw new AccountError(problem)
    const user = await this.#existing(username)
    await this.#change(user.id, { passwordHash: await this.#hasher.hash(normalizePassword(password)) }, 'password-reset')
  }

  // Disabling ends every session of the user at once (the last enabled admin cannot be disabled); enabling
  // lets them log in again, in new sessions only.
  async setDisabled (userId: string, disabled: boolean): Promise<void> {
    if (disabled) await this.#change(userId, { disabled: true }, 'user-disabled')
    else if (!await this.#users.enable(userId, this.#iso())) throw new NoSuchUserError('No such user')
  }

  async setDisabledByName (username: string, disabled: boolean): Promise<void> {
    await this.setDisabled((await this.#existing(username)).id, disabled)
  }

  list (): Promise<User[]> {
    return this.#users.list()
  }

  count (): Promise<number> {
    return this.#users.count()
  }

  // One form of the password is verified, the one the stored hash was made from.
  #verify (user: User, password: string): Promise<boolean> {
    return this.#hasher.verify(user.passwordHash, user.passwordNormalized ? normalizePassword(password) : password)
  }

  async #change (userId: string, change: CredentialChange, reason: string, by?: { sessionId: string, checkedVersion: number }): Promise<void> {
    const revoked = await this.#users.changeCredentials(userId, change, { reason, now: this.#iso(), by })
    if (revoked === undefined) throw new NoSuchUserError('No such user')
    this.#sessions.markRevoked(revoked)
  }

  async #existing (username: string): Promise<User> {
    const user = await this.find(username)
    if (!user) throw new NoSuchUserError(`no user named "${username}"`)
    return user
  }

  #iso (): string {
    return new Date(this.#now()).toISOString()
  }
}
