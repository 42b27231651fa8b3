import { Accounts } from './accounts.js'
import type { Config } from './config.js'
import { KeyRing } from './keys.js'
import { hasherFromConfig } from './passwords.js'
import { RevocationList } from './revocations.js'
import { Sessions } from './sessions.js'
import type { Db } from './store/database.js'
import { SessionStore } from './store/sessions.js'
import { SigningKeyStore } from './store/signing-keys.js'
import { UserStore } from './store/users.js'

// The domain, wired once: the server's plugins and the CLI both build it here.
export function createServices (db: Db, config: Config, now = () => Date.now()) {
  const store = { users: new UserStore(db), signingKeys: new SigningKeyStore(db), sessions: new SessionStore(db) }
  const revocations = new RevocationList(config.ACCESS_TOKEN_TTL)
  const sessions = new Sessions(store.sessions, store.users, revocations, {
    refreshTokenTtlSeconds: config.REFRESH_TOKEN_TTL,
    reuseGraceSeconds: config.REFRESH_REUSE_GRACE
  }, now)
  const accounts = new Accounts(store.users, hasherFromConfig(config), sessions)
  const keys = new KeyRing(store.signingKeys, {
    algorithm: config.JWT_ALGORITHM,
    sharedSecret: config.JWT_SECRET,
    publishDelaySeconds: config.KEY_PUBLISH_DELAY,
    accessTokenTtlSeconds: config.ACCESS_TOKEN_TTL,
    clockToleranceSeconds: config.JWT_CLOCK_TOLERANCE
  }, now)
  return { store, revocations, sessions, accounts, keys }
}

export type Services = ReturnType<typeof createServices>
