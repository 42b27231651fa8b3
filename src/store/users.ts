import type { Selectable } from 'kysely'
import type { Db } from './database.js'
import type { UsersTable } from './schema.js'

export interface User {
  id: string
  username: string
  passwordHash: string
  disabled: boolean
  roles: string[]
  createdAt: string
}

export class UsernameTakenError extends Error {
  constructor (username: string) {
    super(`username "${username}" is already taken`)
  }
}

function toUser (row: Selectable<UsersTable>): User {
  return {
    id: row.id,
    username: row.username,
    passwordHash: row.password_hash,
    disabled: row.disabled !== 0,
    roles: row.roles === '' ? [] : row.roles.split(','),
    createdAt: row.created_at
  }
}

function isUniqueViolation (err: unknown): boolean {
  const code = (err as { code?: string }).code
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === '23505'
}

// Users as rows. `key` is the normalised, case-folded username that uniqueness and look-ups use.
export class UserStore {
  readonly #db: Db
  constructor (db: Db) { this.#db = db }

  async findByKey (key: string): Promise<User | undefined> {
    const row = await this.#db.selectFrom('users').selectAll().where('username_key', '=', key).executeTakeFirst()
    return row && toUser(row)
  }

  async findById (id: string): Promise<User | undefined> {
    const row = await this.#db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst()
    return row && toUser(row)
  }

  async insert (user: { id: string, username: string, key: string, passwordHash: string, roles: string[] }): Promise<User> {
    const now = new Date().toISOString()
    try {
      await this.#db.insertInto('users').values({
        id: user.id,
        username: user.username,
        username_key: user.key,
        password_hash: user.passwordHash,
        roles: user.roles.join(','),
        created_at: now,
        updated_at: now
      }).execute()
    } catch (err) {
      if (isUniqueViolation(err)) throw new UsernameTakenError(user.username)
      throw err
    }
    return { id: user.id, username: user.username, passwordHash: user.passwordHash, disabled: false, roles: user.roles, createdAt: now }
  }

  async update (id: string, changes: { passwordHash?: string, disabled?: boolean }): Promise<void> {
    await this.#db.updateTable('users').set({
      ...(changes.passwordHash !== undefined && { password_hash: changes.passwordHash }),
      ...(changes.disabled !== undefined && { disabled: changes.disabled ? 1 : 0 }),
      updated_at: new Date().toISOString()
    }).where('id', '=', id).execute()
  }

  async list (): Promise<User[]> {
    const rows = await this.#db.selectFrom('users').selectAll().orderBy('created_at').orderBy('username_key').execute()
    return rows.map(toUser)
  }

  async count (): Promise<number> {
    const { n } = await this.#db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()
    return Number(n)
  }
}
