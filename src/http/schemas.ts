import { Type } from '@sinclair/typebox'
import { ERROR_CODE_NAMES, type ErrorCode } from '../error-codes.js'
import { PASSWORD_MAX_BYTES } from '../passwords/policy.js'

// Payload schemas of the HTTP surface, one place each.
// Every error body: the status, its reason phrase, a message for people, and a stable code for programs
// (one of src/error-codes.ts's, listed as an enum: the OpenAPI document shows them all).
const ErrorCodeSchema = Type.Unsafe<ErrorCode>({ type: 'string', enum: ERROR_CODE_NAMES, description: 'what went wrong, for programs: stable, one of the codes in docs/errors.md' })
export const ErrorResponse = Type.Object({
  statusCode: Type.Integer(),
  error: Type.String(),
  message: Type.String(),
  code: ErrorCodeSchema
}, { $id: 'ErrorResponse' })

// The error body with what the OpenAPI document says of it: a description, and the headers it comes with
// (Retry-After on 429 and 503). A copy per use, without ErrorResponse's $id; the same shape serialized.
export const RetryAfter = Type.Integer({ minimum: 0, description: 'seconds to wait before trying again' })
export function errorAnswer (description: string, options: { retryAfter?: boolean } = {}) {
  return Type.Object(ErrorResponse.properties, {
    description,
    ...(options.retryAfter === true && { headers: { 'Retry-After': RetryAfter } })
  })
}

// The size limit is in bytes of UTF-8, which JSON Schema cannot say: the domain checks it (400, before any
// hashing), with one message whatever the characters.
const Password = Type.String({ minLength: 1, description: `at most ${PASSWORD_MAX_BYTES} bytes of UTF-8` })
// A session's or a user's id, as the client puts it in the URL. Opaque, and unbounded here: one the service
// never made is unknown (404), whatever its length, like any other (the URL itself is bounded by Node's
// header limit, 16 KiB, and the router takes a parameter of any length: src/app.ts).
const Id = Type.String({ minLength: 1 })

// `examples` are annotations: validation and serialization ignore them; the OpenAPI document shows them
// (GET /docs). Made-up values, never working credentials.
const EXAMPLE_REFRESH_TOKEN = 'rt_3q2-7wEXAMPLEdoNotUseMbG0x8Yq1nKf5tVZsJpL9cRhA4'

export const LoginBody = Type.Object({
  username: Type.String({ minLength: 1, maxLength: 256 }),
  password: Password
}, { additionalProperties: false, examples: [{ username: 'alice', password: 'an example passphrase, not a real one' }] })

export const TokenResponse = Type.Object({
  token: Type.String({ description: 'the access token (a JWT): send it as `Authorization: Bearer <token>`' }),
  tokenType: Type.Literal('Bearer'),
  expiresIn: Type.Integer({ description: 'seconds until the access token expires' }),
  refreshToken: Type.String({ description: 'opaque; exchange it at POST /token/refresh' }),
  refreshExpiresIn: Type.Integer({ description: 'seconds until the refresh token expires' })
}, {
  examples: [{
    token: 'eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCIsImtpZCI6ImV4YW1wbGUifQ.eyJzdWIiOiJleGFtcGxlIn0.ZXhhbXBsZS1zaWduYXR1cmU',
    tokenType: 'Bearer',
    expiresIn: 900,
    refreshToken: EXAMPLE_REFRESH_TOKEN,
    refreshExpiresIn: 2592000
  }]
})

export const RefreshBody = Type.Object({
  refreshToken: Type.String({ minLength: 1, maxLength: 512 })
}, { additionalProperties: false, examples: [{ refreshToken: EXAMPLE_REFRESH_TOKEN }] })

export const LogoutBody = Type.Object({
  scope: Type.Optional(Type.Union([Type.Literal('session'), Type.Literal('all')], { default: 'session' }))
}, { additionalProperties: false })

export const Me = Type.Object({
  id: Type.String(),
  username: Type.String(),
  roles: Type.Array(Type.String()),
  createdAt: Type.String({ format: 'date-time' })
})

export const SessionView = Type.Object({
  id: Type.String(),
  createdAt: Type.String(),
  lastUsedAt: Type.String(),
  expiresAt: Type.String(),
  userAgent: Type.Union([Type.String(), Type.Null()]),
  ip: Type.Union([Type.String(), Type.Null()]),
  current: Type.Boolean({ description: 'the session of the token that asked' })
})

export const IdParams = Type.Object({ id: Id })

export const PasswordChangeBody = Type.Object({
  currentPassword: Password,
  newPassword: Password
}, { additionalProperties: false })

export const SignupBody = Type.Object({
  username: Type.String({ minLength: 1, maxLength: 256 }),
  password: Password
}, { additionalProperties: false })

export const SignupResponse = Type.Object({ id: Type.String(), username: Type.String() })

export const AdminUserView = Type.Object({
  id: Type.String(),
  username: Type.String(),
  roles: Type.Array(Type.String()),
  disabled: Type.Boolean(),
  createdAt: Type.String()
})
