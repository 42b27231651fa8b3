import type { Generated } from 'kysely'

// Column types as the database returns them. Timestamps are ISO 8601 text and booleans 0/1 integers,
// which read the same from every dialect Kysely speaks.
export interface UsersTable {
  id: string
  username: string
  username_key: string
  username_skeleton: string | null // usernameSkeleton(username): look-alike names share it (null only in rows written by a version before 0006)
  username_skeleton_display: string | null // casedSkeletons(username).display (null before 0007)
  username_skeleton_upper: string | null // casedSkeletons(username).upper (null before 0007)
  password_hash: string
  disabled: Generated<number>
  roles: Generated<string> // comma-separated
  credentials_version: Generated<number> // moves on with every password change, reset and disable
  password_normalized: Generated<number> // 1: password_hash was made from the NFKC form of the password
  last_login_at: string | null
  created_at: string
  updated_at: string
}

export interface SigningKeysTable {
  kid: string
  alg: string
  private_key: string
  public_key: string | null
  created_at: string
  activates_at: string | null // when it starts signing; published before that (null: created_at)
  low_s: Generated<number> // 1: ECDSA signatures of this key are low-S only, made and accepted (one spelling a token)
}

export interface SessionsTable {
  id: string
  user_id: string
  created_at: string
  last_used_at: string
  expires_at: string
  user_agent: string | null
  ip: string | null
  revoked_at: string | null
  revoked_reason: string | null
  credentials_version: Generated<number> // the user's credentials version the session was started under
  access_expires_at: string | null // exp of the last access token issued for the session
}

interface RefreshTokensTable {
  token_hash: string // SHA-256 of the token: the token itself is never stored
  session_id: string
  created_at: string
  expires_at: string
  spent_at: string | null
}

interface ServiceSecretsTable {
  name: string
  value: string // base64url
  created_at: string
}

interface ChangesTable {
  id: Generated<number | string> // assigned by the database in commit order (PostgreSQL returns bigint as a string)
  kind: string
  subject: string
  until: string | null
  created_at: string
}

export interface Database {
  changes: ChangesTable
  users: UsersTable
  signing_keys: SigningKeysTable
  sessions: SessionsTable
  refresh_tokens: RefreshTokensTable
  service_secrets: ServiceSecretsTable
}
