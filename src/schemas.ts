import { Type } from '@sinclair/typebox'
import { PASSWORD_MAX_BYTES } from './password-policy.js'

// Payload schemas of the HTTP surface, one place each.
export const ErrorResponse = Type.Object({
  statusCode: Type.Integer(),
  error: Type.String(),
  message: Type.String()
}, { $id: 'ErrorResponse' })

// The size limit is in bytes of UTF-8, which JSON Schema cannot say: the domain checks it (400, before any
// hashing), with one message whatever the characters.
const Password = Type.String({ minLength: 1, description: `at most ${PASSWORD_MAX_BYTES} bytes of UTF-8` })
const Id = Type.String({ minLength: 1, maxLength: 64 })

export const LoginBody = Type.Object({
  username: Type.String({ minLength: 1, maxLength: 256 }),
  password: Password
}, { additionalProperties: false })

export const TokenResponse = Type.Object({
  token: Type.String(),
  tokenType: Type.Literal('Bearer'),
  expiresIn: Type.Integer({ description: 'seconds until the access token expires' }),
  refreshToken: Type.String({ description: 'opaque; exchange it at POST /token/refresh' }),
  refreshExpiresIn: Type.Integer({ description: 'seconds until the refresh token expires' })
})

export const RefreshBody = Type.Object({
  refreshToken: Type.String({ minLength: 1, maxLength: 512 })
}, { additionalProperties: false })

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
