import { STATUS_CODES } from 'node:http'
import { ERROR_CODES, FRAMEWORK_CODES, STATUS_CODE_OF, type ErrorCode } from '../error-codes.js'

// An error whose message is safe to show the client, answered with its code's status (src/error-codes.ts).
// Anything else that escapes a handler is a 500 `internal` with a generic message.
export class HttpError extends Error {
  readonly errorCode: ErrorCode
  readonly statusCode: number
  constructor (errorCode: ErrorCode, message: string) {
    super(message)
    this.errorCode = errorCode
    this.statusCode = ERROR_CODES[errorCode].status
  }
}

// A refused access token: 401 with an RFC 6750 challenge, error="invalid_token" when a token was sent.
export class InvalidTokenError extends HttpError {
  readonly tokenSent: boolean
  constructor (message: string, tokenSent = true) {
    super(tokenSent ? 'invalid_token' : 'missing_token', message)
    this.tokenSent = tokenSent
  }
}

// The service cannot answer this now but will soon (still starting, shutting down): 503 with Retry-After.
// (The overloaded 503 is under-pressure's, the store's and the full hashing queue's the error handler's.)
export class UnavailableError extends HttpError {
  readonly retryAfterSeconds: number
  constructor (errorCode: 'starting' | 'shutting_down', message: string, retryAfterSeconds = 5) {
    super(errorCode, message)
    this.retryAfterSeconds = retryAfterSeconds
  }
}

// Too many attempts: 429 with Retry-After (the login throttle, a client's share of the hashing queue).
export class TooManyAttemptsError extends HttpError {
  readonly retryAfterSeconds: number
  constructor (errorCode: 'login_throttled' | 'hash_queue_share_full', message: string, retryAfterSeconds: number) {
    super(errorCode, message)
    this.retryAfterSeconds = Math.max(1, Math.ceil(retryAfterSeconds))
  }
}

export interface ErrorBody { statusCode: number, error: string, message: string, code: ErrorCode }

// The one shape of every error answer: the status, its reason phrase, a message for people, a code for
// programs.
export function errorBody (code: ErrorCode, message: string): ErrorBody {
  const statusCode = ERROR_CODES[code].status
  return { statusCode, error: STATUS_CODES[statusCode] ?? 'Error', message, code }
}

// Fastify's own refusal, by its code or else its status, in the table (undefined: no code for it).
export function frameworkErrorCode (code: unknown, statusCode: number): ErrorCode | undefined {
  return (typeof code === 'string' ? FRAMEWORK_CODES[code] : undefined) ?? STATUS_CODE_OF[statusCode]
}
