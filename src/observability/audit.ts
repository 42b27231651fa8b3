import { createHmac, randomBytes } from 'node:crypto'
import { usernameKey } from '../text/usernames.js'

// Security-relevant outcomes, recorded as one line each in one shape (docs/security.md, "Audit events"):
//   { "audit": { "event": "login_failed", "userId": "…", "sessionId": "…", "ip": "…", "userAgent": "…",
//                "usernameHash": "…", "actor": "…", "reason": "…", "reqId": "…" } }
// Fields that do not apply to an event are left out. Never a password, token, code or key; never the name
// typed into a failed login either (people type passwords there): a keyed hash of it instead.
export const AUDIT_EVENTS = [
  'login_succeeded', 'login_failed', 'login_throttled', 'rate_limited',
  'token_refreshed', 'refresh_reuse_detected', 'logged_out',
  'password_changed', 'user_created', 'user_disabled', 'user_enabled', 'role_changed', 'session_revoked',
  'key_rotated', 'admin_created'
] as const
export type AuditEvent = typeof AUDIT_EVENTS[number]

export interface AuditFields {
  userId?: string
  sessionId?: string
  ip?: string
  userAgent?: string
  // HMAC-SHA256 of the attempted username (its case-folded NFKC form) under the service's audit key.
  usernameHash?: string
  // Who did it, when not the user itself: an admin's user id, or "cli" / "service".
  actor?: string
  // Why, in a word or two (e.g. "unknown_user", "wrong_password", "logout-all", "scheduled").
  reason?: string
  // Who did it, when the actor is a user acting on another's account: the actor's session.
  actorSessionId?: string
  reqId?: string
  // Event-specific, never secret: a key id, a role, a route, a limit.
  [field: string]: string | number | boolean | undefined
}

export type AuditRecord = { event: AuditEvent } & AuditFields
// Most events are at info; those that mean somebody is attacking a session or an account, at warn.
type AuditLevel = 'info' | 'warn'
export type AuditSink = (record: AuditRecord, level: AuditLevel) => void
const WARN_EVENTS: ReadonlySet<AuditEvent> = new Set<AuditEvent>(['refresh_reuse_detected'])
const auditLevel = (event: AuditEvent): AuditLevel => WARN_EVENTS.has(event) ? 'warn' : 'info'

export const AUDIT_NAME_KEY_SECRET = 'audit-name-key'
export const newAuditNameKey = () => randomBytes(32).toString('base64url')

export class Audit {
  readonly #sink: AuditSink
  readonly #observers: Array<(record: AuditRecord) => void> = []
  #nameKey?: Buffer

  constructor (sink: AuditSink) {
    this.#sink = sink
  }

  // The key of usernameHash: a service secret (service_secrets), the same on every instance, so the same
  // name always gives the same hash and attacks on one name can be correlated across instances.
  setNameKey (key: string): void {
    this.#nameKey = Buffer.from(key, 'base64url')
  }

  nameHash (username: string): string {
    if (!this.#nameKey) throw new Error('the audit key is not loaded yet')
    return createHmac('sha256', this.#nameKey).update(usernameKey(username)).digest('base64url').slice(0, 22)
  }

  // Called with every record after it is written (the metrics count events here, where each is recorded
  // once). An observer must be synchronous, cheap, and must not throw.
  observe (observer: (record: AuditRecord) => void): void {
    this.#observers.push(observer)
  }

  record (event: AuditEvent, fields: AuditFields = {}): void {
    const record: AuditRecord = { event }
    for (const [name, value] of Object.entries(fields)) if (value !== undefined) record[name] = value
    this.#sink(record, auditLevel(event))
    for (const observer of this.#observers) observer(record)
  }
}
