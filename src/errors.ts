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

export interface ErrorBody { statusCode: number, error: string, message: string }

export function errorBody (statusCode: number, message: string): ErrorBody {
  return { statusCode, error: STATUS_CODES[statusCode] ?? 'Error', message }
}
