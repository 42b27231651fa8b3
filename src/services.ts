import { Accounts } from './accounts/accounts.js'
import type { Config } from './config/schema.js'
import { KeyRing } from './tokens/key-ring.js'
import { publishOnce } from './sync/hints.js'
import { policyFromConfig } from './passwords/policy.js'
import { hasherFromConfig } from './passwords/hasher.js'
import { RevocationList } from './sessions/revocations.js'
import { SecretBox } from './support/secret-box.js'
import { Sessions } from './sessions/sessions.js'
import { databaseOptions, openDatabase, type Db } from './store/database.js'
import { ChangeLog } from './store/change-log.js'
import { SecretStore } from './store/secrets.js'
import { SessionStore } from './store/sessions.js'
import { SigningKeyStore } from './store/signing-keys.js'
import { UserStore } from './store/users.js'

// What the domain reports that is neither a result nor an error (a check it could not make): the server
// logs it as a warning, the CLI writes it to stderr.
export type Warn = (message: string) => void

// The domain, wired once: the server's plugins and the CLI both build it here.
export function createServices (db: Db, config: Config, now = () => Date.now(), warn: Warn = () => {}) {
  const box = new SecretBox(config.KEY_ENCRYPTION_KEY)
  const changes = new ChangeLog(db)
  const store = {
    users: new UserStore(db, changes),
    signingKeys: new SigningKeyStore(db, changes),
    sessions: new SessionStore(db, changes),
    secrets: new SecretStore(db, box),
    changes
  }
  // How long an access token can be accepted after it was signed: its lifetime plus the clock tolerance.
  // Superseded keys are kept that long; revocations, as long as the tokens actually issued can be.
  const accessTokenLifetimeSeconds = config.ACCESS_TOKEN_TTL + config.JWT_CLOCK_TOLERANCE
  const revocations = new RevocationList()
  const sessions = new Sessions(store.sessions, store.users, store.secrets, revocations, {
    refreshTokenTtlSeconds: config.REFRESH_TOKEN_TTL,
    reuseGraceSeconds: config.REFRESH_REUSE_GRACE,
    accessTokenTtlSeconds: config.ACCESS_TOKEN_TTL,
    clockToleranceSeconds: config.JWT_CLOCK_TOLERANCE
  }, now)
  const hasher = hasherFromConfig(config)
  const passwordPolicy = policyFromConfig(config, warn)
  const accounts = new Accounts(store.users, hasher, sessions, passwordPolicy, now)
  const keys = new KeyRing(store.signingKeys, {
    algorithm: config.JWT_ALGORITHM,
    sharedSecret: config.JWT_SECRET,
    publishDelaySeconds: config.KEY_PUBLISH_DELAY,
    accessTokenLifetimeSeconds
  }, now, box)
  return { store, revocations, sessions, accounts, keys, hasher }
}

export type Services = ReturnType<typeof createServices>

// For programs that run once (the CLI, the bench's setup): open the database, use the domain, close it.
// With REDIS_URL, running instances are told of what changed (with PostgreSQL alone, NOTIFY did that).
export async function withServices<T> (config: Config, use: (services: Services, db: Db) => Promise<T>, warn?: Warn): Promise<T> {
  const db = await openDatabase(config.DATABASE_URL, databaseOptions(config))
  let changed = false
  try {
    const services = createServices(db, config, undefined, warn)
    services.store.changes.onCommitted(() => { changed = true })
    return await use(services, db)
  } finally {
    if (changed && config.REDIS_URL !== undefined) await publishOnce(config.REDIS_URL, config.REDIS_PREFIX).catch(() => {})
    await db.destroy()
  }
}
