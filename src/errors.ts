import type { ErrorCode } from './error-codes.js'
import type { AuditEvent } from './observability/audit.js'

// What the domain refuses, and why, in words fit for the person who asked, with the error code the
// client sees (src/error-codes.ts). The domain knows nothing of HTTP: plugins/error-handling.ts answers
// each with its code's status, in one place. 'invalid_token': the caller's session ended or changed under
// the request. 'wrong_current_password': a secret the caller typed, on top of a valid token, is wrong —
// not the token, so no challenge. `event`: the audit event the refusal is recorded as, with `reason` in it.
export type DomainErrorCode = Extract<ErrorCode, 'validation_failed' | 'wrong_current_password' | 'invalid_token' | 'not_found' | 'conflict'>

export class DomainError extends Error {
  readonly errorCode: DomainErrorCode
  readonly event?: AuditEvent
  readonly reason?: string
  constructor (errorCode: DomainErrorCode, message: string, event?: AuditEvent, reason?: string) {
    super(message)
    this.errorCode = errorCode
    this.event = event
    this.reason = reason
  }
}
