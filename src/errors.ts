import type { AuditEvent } from './observability/audit.js'

// What the domain refuses, and why, in words fit for the person who asked. The domain knows nothing of
// HTTP: plugins/error-handling.ts turns each kind into a status code, in one place. 'token-refused': the caller's
// session ended or changed under the request. 'wrong-credentials': a secret the caller typed, on top of a
// valid token, is wrong (the current password of a change; a second factor's code) — not the token, so no
// challenge. `event`: the audit event the refusal is recorded as, with `reason` in it.
export type DomainErrorKind = 'invalid' | 'wrong-credentials' | 'token-refused' | 'not-found' | 'conflict'

export class DomainError extends Error {
  readonly kind: DomainErrorKind
  readonly event?: AuditEvent
  readonly reason?: string
  constructor (kind: DomainErrorKind, message: string, event?: AuditEvent, reason?: string) {
    super(message)
    this.kind = kind
    this.event = event
    this.reason = reason
  }
}
