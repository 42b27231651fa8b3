// Every error body the service sends carries one of these codes beside `statusCode`, `error` and `message`:
// a client tells the answers apart by `code`, never by the message's words, which may change. One status
// per code. The table is the contract: the error handler (plugins/error-handling.ts) answers from it, the
// OpenAPI document lists its codes as the error schema's enum, and docs/errors.md is generated from it
// (scripts/reference.ts). A new refusal adds its code here, with what a client should do about it.
export const ERROR_CODES = {
  bad_request: { status: 400, description: 'The request is not well-formed HTTP, or its body does not match its Content-Length. Fix the client.' },
  malformed_url: { status: 400, description: 'The URL holds a %-escape that is not valid UTF-8.' },
  invalid_json: { status: 400, description: 'The body is labelled `application/json` but is empty, not JSON, or holds a `__proto__` or `constructor.prototype` key.' },
  validation_failed: { status: 400, description: 'The body, parameters or query do not match the route\'s schema, or a value breaks a rule of the domain (a password the policy refuses, a username that is not allowed, a role that is not well-formed). `message` says which field and why.' },
  missing_token: { status: 401, description: 'A protected route was called without `Authorization: Bearer <token>`. Comes with a `WWW-Authenticate: Bearer` challenge.' },
  invalid_token: { status: 401, description: 'The access token is malformed, expired, not signed by a key of ours, revoked, or its session has ended or changed (a password change, a logout, a disabled account). Log in again or refresh. Comes with `WWW-Authenticate: Bearer …, error="invalid_token"`.' },
  invalid_credentials: { status: 401, description: 'The username and password do not match an enabled account. The same answer whether or not the user exists.' },
  invalid_refresh_token: { status: 401, description: 'The refresh token is unknown, expired, spent, or its session ended. Log in again.' },
  wrong_current_password: { status: 403, description: 'A change that asks for the current password (on top of a valid access token) was given a wrong one.' },
  forbidden: { status: 403, description: 'A path the documentation page\'s file server will not serve (a hidden file, a path that climbs out of its folder, a name too long for the file system).' },
  insufficient_role: { status: 403, description: 'The access token is valid but its user lacks the role the route requires.' },
  not_found: { status: 404, description: 'No such route, or no such resource (a session, a user) for this caller.' },
  request_timeout: { status: 408, description: 'The request\'s headers or body did not arrive in time; the connection is closed.' },
  conflict: { status: 409, description: 'The change conflicts with the store\'s state: the username (or one that looks like it) is taken, or the last enabled admin would be disabled.' },
  precondition_failed: { status: 412, description: 'A conditional request (`If-Match`, `If-Unmodified-Since`) for a file of the documentation page whose condition does not hold.' },
  payload_too_large: { status: 413, description: 'The body is larger than the service takes (credentials are small).' },
  unsupported_media_type: { status: 415, description: 'The body is not `application/json` in UTF-8.' },
  range_not_satisfiable: { status: 416, description: 'A `Range` request for a file of the documentation page that lies outside the file.' },
  expectation_failed: { status: 417, description: 'An `Expect` header other than `100-continue`.' },
  rate_limited: { status: 429, description: 'Too many requests to this route from this client address in the window. Retry after `Retry-After` seconds.' },
  login_throttled: { status: 429, description: 'Too many failed logins on this account from this address (or on this account from everywhere). Retry after `Retry-After` seconds; the wait doubles with each further attempt.' },
  hash_queue_share_full: { status: 429, description: 'This client address already has its share of the logins waiting for password hashing. Retry after `Retry-After` seconds.' },
  headers_too_large: { status: 431, description: 'The request line and headers are larger than 16 KiB; the connection is closed.' },
  internal: { status: 500, description: 'Something failed inside the service; the log has the details, the answer never does.' },
  unavailable: { status: 503, description: 'A dependency the answer needs (the user store) is unavailable. Retry after `Retry-After` seconds.' },
  overloaded: { status: 503, description: 'The service is overloaded (event-loop delay or heap above its limits). Retry after `Retry-After` seconds.' },
  hash_queue_full: { status: 503, description: 'Too many logins are waiting for password hashing across all clients. Retry after `Retry-After` seconds.' },
  starting: { status: 503, description: 'The service is still starting (migrations, keys). Retry after `Retry-After` seconds.' },
  shutting_down: { status: 503, description: 'This instance is shutting down; another instance, or this one restarted, will answer. Retry after `Retry-After` seconds.' }
} as const satisfies Record<string, { status: number, description: string }>

export type ErrorCode = keyof typeof ERROR_CODES
export const ERROR_CODE_NAMES = Object.keys(ERROR_CODES) as ErrorCode[]

// Fastify's own refusals (and its plugins'), by their code, in the service's table. A client error whose
// code is not here is answered by its status (STATUS_CODE_OF); one with a status the table has no code
// for, as a plain 400 `bad_request` (logged as a warning: it means this list needs a line).
export const FRAMEWORK_CODES: Record<string, ErrorCode> = {
  FST_ERR_VALIDATION: 'validation_failed',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_json',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'bad_request',
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_NOT_FOUND: 'not_found',
  FST_STATIC_FORBIDDEN_PATH: 'forbidden' // @fastify/static, serving the documentation page's files
}
export const STATUS_CODE_OF: Partial<Record<number, ErrorCode>> = {
  400: 'bad_request',
  403: 'forbidden',
  404: 'not_found',
  408: 'request_timeout',
  412: 'precondition_failed',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  416: 'range_not_satisfiable',
  431: 'headers_too_large'
}
