import { STATUS_CODES } from 'node:http'

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

export interface ErrorBody { statusCode: number, error: string, message: string }

export function errorBody (statusCode: number, message: string): ErrorBody {
  return { statusCode, error: STATUS_CODES[statusCode] ?? 'Error', message }
}
