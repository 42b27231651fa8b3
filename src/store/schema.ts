import type { Generated } from 'kysely'

// Column types as the database returns them. Timestamps are ISO 8601 text and booleans 0/1 integers,
// which read the same from every dialect Kysely speaks.
export interface UsersTable {
  id: string
  username: string
  username_key: string
  password_hash: string
  disabled: Generated<number>
  roles: Generated<string> // comma-separated
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
}

export interface RefreshTokensTable {
  token_hash: string // SHA-256 of the token: the token itself is never stored
  session_id: string
  created_at: string
  expires_at: string
  spent_at: string | null
}

export interface Database {
  users: UsersTable
  signing_keys: SigningKeysTable
  sessions: SessionsTable
  refresh_tokens: RefreshTokensTable
}
