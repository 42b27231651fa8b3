import { randomUUID } from 'node:crypto'
import { DomainError } from '../errors.js'
import type { Flow } from '../passwords/hash-queue.js'
import type { PasswordHasher } from '../passwords/hasher.js'
import { passwordSizeProblem, type PasswordPolicy } from '../passwords/policy.js'
import { normalizePassword } from '../passwords/hasher.js'
import type { Sessions } from '../sessions/sessions.js'
import { StaleCredentialsError, type CredentialChange, type User, type UserStore } from '../store/users.js'
import { casedSkeletons, lookAlikeGroups, normalizeUsername, usernameKey, usernameProblem, usernameSkeleton } from '../text/usernames.js'

// A request the domain refuses, with a message fit for the person who made it.
class AccountError extends DomainError {
  constructor (message: string) { super('validation_failed', message) }
}
class WrongPasswordError extends DomainError {
  constructor () { super('wrong_current_password', 'Invalid credentials', 'login_failed', 'wrong_current_password') }
}
class NoSuchUserError extends DomainError {
  constructor (what: string) { super('not_found', what) }
}

// Roles are stored comma-separated and compared exactly: lower-case names only, no commas.
const ROLE = /^[a-z][a-z0-9_.:-]{0,63}$/
function roleProblem (role: string): string | undefined {
  return ROLE.test(role) ? undefined : 'a role is a lower-case letter followed by up to 63 of a-z 0-9 _ . : -'
}

type LoginFailure = { reason: 'unknown_user', userId?: undefined } | { reason: 'wrong_password' | 'disabled', userId: string }
export type LoginCheck = { user: User, failure?: undefined } | { user?: undefined, failure: LoginFailure }

// What login, signup, the account routes, bootstrap and the CLI do with users.
export class Accounts {
  readonly #users: UserStore
  readonly #hasher: PasswordHasher
  readonly #sessions: Sessions
  // Every new password passes it, whichever way it comes in (signup, a change, the CLI, the first admin).
  readonly policy: PasswordPolicy
  readonly #now: () => number

  constructor (users: UserStore, hasher: PasswordHasher, sessions: Sessions, policy: PasswordPolicy, now = () => Date.now()) {
    this.#users = users
    this.#hasher = hasher
    this.#sessions = sessions
    this.policy = policy
    this.#now = now
  }

  find (username: string): Promise<User | undefined> {
    return this.#users.findByKey(usernameKey(username))
  }

  findById (id: string): Promise<User | undefined> {
    return this.#users.findById(id)
  }

  // The user when the credentials are right and the account is enabled, after the same hashing work
  // whichever check failed, so that timing does not tell whether the user exists; and when it fails, why
  // (for the audit record only: the client is told nothing of it). "disabled" only when the password was
  // right. The user returned carries the credentials version that was checked: a session is started only
  // if it is still current (Sessions.start).
  // `flow` places the password check in the hashing queue fairly (src/passwords/hash-queue.ts).
  // A password over the size limit is refused before anything else (400), whether the user exists or not.
  async checkLogin (username: string, password: string, flow?: Flow): Promise<LoginCheck> {
    refuseOversized(password)
    const user = await this.find(username)
    if (!user) {
      await this.#hasher.burn(normalizePassword(password), flow)
      return { failure: { reason: 'unknown_user' } }
    }
    if (!await this.#verify(user, password, flow)) return { failure: { reason: 'wrong_password', userId: user.id } }
    if (user.disabled) return { failure: { reason: 'disabled', userId: user.id } }
    if (!user.passwordNormalized || this.#hasher.needsRehash(user.passwordHash)) {
      // A hash of the raw form (made before passwords were normalised), or weaker than the configured
      // parameters: upgrade it while we hold the password, unless the credentials changed meanwhile.
      const passwordHash = await this.#hasher.hash(normalizePassword(password))
      await this.#users.rehash(user.id, user.credentialsVersion, passwordHash, this.#iso())
      return { user: { ...user, passwordHash, passwordNormalized: true } }
    }
    return { user }
  }

  // A new user: the name must follow the rules for new names (usernameProblem: length, characters, one
  // script) and be neither taken nor like a taken one (the store checks, UsernameTakenError); the password
  // must pass the policy. `generated`: the service made the password at random (the first admin's), so no
  // breach can list it.
  async create (username: string, password: string, roles: string[] = [], { generated = false } = {}): Promise<User> {
    const problem = usernameProblem(username) ?? await this.policy.check(password, username, { breached: !generated })
    if (problem) throw new AccountError(problem)
    const name = normalizeUsername(username)
    const passwordHash = await this.#hasher.hash(normalizePassword(password))
    return this.#users.insert({ id: randomUUID(), username: name, key: usernameKey(name), skeleton: usernameSkeleton(name), cased: casedSkeletons(name), passwordHash, roles }, this.#iso())
  }

  // The user's own change: the current password must be right. Every other session ends, logins in flight
  // with the old password included; the session that made the change carries on. A new password the policy
  // refuses is refused before the current one is verified: no hashing for a change that cannot happen.
  // `beforeVerify` runs once the new password has passed the policy, right before the current one is
  // checked: a guess at the current password is a login attempt (the throttle may refuse it, and it says
  // where the check goes in the hashing queue); `afterVerify` is told whether it was right.
  async changePassword (userId: string, currentPassword: string, newPassword: string, currentSessionId: string,
    gate?: { beforeVerify: (username: string) => Promise<Flow>, afterVerify: (right: boolean) => Promise<void> }): Promise<void> {
    refuseOversized(currentPassword, 'currentPassword')
    const user = await this.#users.findById(userId)
    // Deleted or disabled since its token was checked: refused as the token is a moment later (401), not
    // as a wrong password (403).
    if (!user || user.disabled) throw new StaleCredentialsError()
    const problem = await this.policy.check(newPassword, user.username)
    if (problem) throw new AccountError(`newPassword: ${problem}`)
    const flow = await gate?.beforeVerify(user.username)
    const right = await this.#verify(user, currentPassword, flow)
    await gate?.afterVerify(right)
    if (!right) throw new WrongPasswordError()
    await this.#change(user.id, { passwordHash: await this.#hasher.hash(normalizePassword(newPassword)) }, 'password-changed',
      { sessionId: currentSessionId, checkedVersion: user.credentialsVersion })
  }

  // An operator's reset (CLI): every session of the user ends. Returns the user.
  async setPassword (username: string, password: string): Promise<User> {
    const user = await this.#existing(username)
    const problem = await this.policy.check(password, user.username)
    if (problem) throw new AccountError(problem)
    await this.#change(user.id, { passwordHash: await this.#hasher.hash(normalizePassword(password)) }, 'password-reset')
    return user
  }

  // Disabling ends every session of the user at once (the last enabled admin cannot be disabled); enabling
  // lets them log in again, in new sessions only.
  async setDisabled (userId: string, disabled: boolean): Promise<void> {
    if (disabled) await this.#change(userId, { disabled: true }, 'user-disabled')
    else if (!await this.#users.enable(userId, this.#iso())) throw new NoSuchUserError('No such user')
  }

  async setDisabledByName (username: string, disabled: boolean): Promise<User> {
    const user = await this.#existing(username)
    await this.setDisabled(user.id, disabled)
    return user
  }

  // An operator's change of one role (CLI). Every session of the user ends, since tokens carry the roles;
  // the last enabled admin cannot lose `admin` (LastAdminError). `changed` is false when the user already
  // had (or lacked) the role: then nothing happened.
  async changeRole (username: string, change: { add: string } | { remove: string }): Promise<{ user: User, roles: string[], changed: boolean }> {
    const role = 'add' in change ? change.add : change.remove
    const problem = roleProblem(role)
    if (problem) throw new AccountError(problem)
    const user = await this.#existing(username)
    const result = await this.#users.changeRoles(user.id, change, { reason: 'roles-changed', now: this.#iso() })
    if (result === undefined) throw new NoSuchUserError(`no user named "${username}"`)
    this.#sessions.markRevoked(result.revoked)
    return { user, roles: result.roles, changed: result.changed }
  }

  list (): Promise<User[]> {
    return this.#users.list()
  }

  count (): Promise<number> {
    return this.#users.count()
  }

  // The users whose names look alike, in groups (src/text/usernames.ts lookAlikeGroups): names made before a
  // rule that refuses them now, for an operator to look at (`auth-service users lookalikes`).
  async lookAlikes (): Promise<User[][]> {
    return lookAlikeGroups(await this.#users.list())
  }

  // One form of the password is verified, the one the stored hash was made from.
  #verify (user: User, password: string, flow?: Flow): Promise<boolean> {
    return this.#hasher.verify(user.passwordHash, user.passwordNormalized ? normalizePassword(password) : password, flow)
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

// Exported for the login route, which refuses an oversized password before counting it as an attempt.
export function refuseOversized (password: string, field?: string): void {
  const problem = passwordSizeProblem(password, field)
  if (problem) throw new AccountError(problem)
}
