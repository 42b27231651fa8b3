import type { Config } from '../config/schema.js'
import { DomainError } from '../errors.js'
import type { Services } from '../services.js'
import { describe, type CliIo } from './io.js'
import { maskUrl } from './mask-url.js'

// The domain, the store's drivers and the configuration's schema are loaded by the commands that use
// them, not for `--help` or a usage error: those answer at once.
export const loadConfig = async (env: NodeJS.ProcessEnv) => (await import('../config/load.js')).loadConfig(env)
export const database = () => import('../store/database.js')
const isPostgresUrl = (url: string) => /^postgres(ql)?:\/\//.test(url)
export class NoSuchUserError extends DomainError {
  constructor (what: string) { super('not_found', what) }
}

// The domain for one command: the configuration from the environment (as the server reads it), the
// database opened and brought up to date, closed after. A database that cannot be reached is one line.
export async function withDomain<T> (io: CliIo, use: (services: Services, config: Config) => Promise<T>): Promise<T> {
  const config = await loadConfig(io.env)
  const { withServices } = await import('../services.js')
  try {
    return await withServices(config, (services) => use(services, config), (message) => { io.stderr.write(`warning: ${message}\n`) })
  } catch (err) {
    throw await unavailable(err, config)
  }
}

// An error that means the store cannot be reached, said with where it is (its password masked).
export async function unavailable (err: unknown, config: Config): Promise<unknown> {
  if (!(await database()).isStoreUnavailable(err)) return err
  const what = isPostgresUrl(config.DATABASE_URL) ? 'cannot reach the database' : 'cannot use the database'
  const reason = describe(err)
  return new Error(`${what} ${maskUrl(config.DATABASE_URL)}: ${reason}` +
    (/timeout/i.test(reason) ? ` (DATABASE_CONNECT_TIMEOUT=${config.DATABASE_CONNECT_TIMEOUT} s)` : ''))
}
