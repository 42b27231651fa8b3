import { dirname } from 'node:path'
import type { Accounts } from './accounts.js'
import { randomPassword } from '../passwords/hasher.js'
import { privateDir, privateFile, writePrivateFile, type Report } from '../support/private-files.js'
import { UsernameTakenError, UsernameTooSimilarError } from '../store/users.js'

export interface BootstrapSettings { username: string, password?: string, passwordFile: string, report?: Report }
// ADMIN_PASSWORD is one the password policy refuses: start-up fails, saying why, never with the password.
class AdminPasswordError extends Error {}

export type BootstrapResult =
  | { action: 'none' }
  | { action: 'created', userId: string, username: string, passwordFile?: string }

// Makes sure there is an administrator (role admin) who can log in, without ever overwriting an existing account:
// - ADMIN_PASSWORD given: create ADMIN_USERNAME if it does not exist (ADMIN_PASSWORD must then pass the
//   password policy, or start-up fails: AdminPasswordError);
// - no ADMIN_PASSWORD and no users at all: create ADMIN_USERNAME with a random password, written to a
//   file only its owner can read (the caller logs the file's path, never the password).
export async function bootstrapAdmin (accounts: Accounts, settings: BootstrapSettings): Promise<BootstrapResult> {
  const report = settings.report ?? (() => {})
  // A password file left from an earlier start: still the service's own, and private.
  privateFile(settings.passwordFile, report)
  if (settings.password !== undefined) {
    if (await accounts.find(settings.username)) return { action: 'none' }
    const problem = await accounts.policy.check(settings.password, settings.username)
    if (problem) throw new AdminPasswordError(`ADMIN_PASSWORD is refused: ${problem}`)
    return createIfAbsent(accounts, settings.username, settings.password)
  }
  if (await accounts.count() > 0) return { action: 'none' }
  // 32 random characters pass the policy but for a one-in-a-million chance (the username inside them).
  const password = generatedPassword(accounts, settings.username)
  // Created 0700 if absent; an existing folder is left as it is, with a warning if others may enter it.
  privateDir(dirname(settings.passwordFile), () => false, report)
  writePrivateFile(settings.passwordFile, password + '\n', report)
  const result = await createIfAbsent(accounts, settings.username, password, true)
  return result.action === 'created' ? { ...result, passwordFile: settings.passwordFile } : result
}

function generatedPassword (accounts: Accounts, username: string): string {
  for (let attempt = 0; attempt < 100; attempt++) {
    const password = randomPassword()
    if (accounts.policy.problem(password, username) === undefined) return password
  }
  throw new Error('could not generate a first-admin password that passes the password policy')
}

async function createIfAbsent (accounts: Accounts, username: string, password: string, generated = false): Promise<BootstrapResult> {
  try {
    const user = await accounts.create(username, password, ['admin'], { generated })
    return { action: 'created', userId: user.id, username: user.username }
  } catch (err) {
    // Not made, and nothing to make it with: another user's name looks like ADMIN_USERNAME. A configuration
    // problem (no retry mends it), said in words rather than as the client's 409.
    if (err instanceof UsernameTooSimilarError) {
      throw new Error(`ADMIN_USERNAME "${username}" looks like the name of an existing user: choose another name`)
    }
    // Another instance sharing the database created it first.
    if (err instanceof UsernameTakenError) return { action: 'none' }
    throw err
  }
}
