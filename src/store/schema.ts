import type { Generated } from 'kysely'

// Column types as the database returns them. Timestamps are ISO 8601 text and booleans 0/1 integers,
// which read the same from every dialect Kysely speaks.
export interface UsersTable {
  id: string
  username: string
  username_key: string
  password_hash: string
  disabled: Generated<number>
  created_at: string
  updated_at: string
}

export interface SigningKeysTable {
  kid: string
  alg: string
  private_key: string
  public_key: string | null
  created_at: string
}

export interface Database {
  users: UsersTable
  signing_keys: SigningKeysTable
}
