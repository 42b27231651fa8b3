import { STATUS_CODES } from 'node:http'
import type { AuditEvent } from './audit.js'

// An error whose message is safe to show the client. Anything else that escapes a handler is a 500
// with a generic message.
export class HttpError extends Error {
  readonly statusCode: number
  constructor (statusCode: number, message: string) {
    super(message)
    this.statusCode = statusCode
  }
}

// A refused access token: 401 with an RFC 6750 challenge, error="invalid_token" when a token was sent.
export class InvalidTokenError extends HttpError {
  readonly tokenSent: boolean
  constructor (message: string, tokenSent = true) {
    super(401, message)
    this.tokenSent = tokenSent
  }
}

// The service cannot answer this now but will soon (still starting, shutting down, overloaded): 503 with
// Retry-After.
export class UnavailableError extends HttpError {
  readonly retryAfterSeconds: number
  constructor (message: string, retryAfterSeconds = 5) {
    super(503, message)
    this.retryAfterSeconds = retryAfterSeconds
  }
}

// Too many attempts: 429 with Retry-After (the login throttle, a client's share of the hashing queue).
export class TooManyAttemptsError extends HttpError {
  readonly retryAfterSeconds: number
  constructor (message: string, retryAfterSeconds: number) {
    super(429, message)
    this.retryAfterSeconds = Math.max(1, Math.ceil(retryAfterSeconds))
  }
}

// What the domain refuses, and why, in words fit for the person who asked. The domain knows nothing of
// HTTP: plugins/http.ts turns each kind into a status code, in one place. 'token-refused': the caller's
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

export interface ErrorBody { statusCode: number, error: string, message: string }

export function errorBody (statusCode: number, message: string): ErrorBody {
  return { statusCode, error: STATUS_CODES[statusCode] ?? 'Error', message }
}
