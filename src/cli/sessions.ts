import { DomainError } from '../errors.js'
import { UsageError } from './args.js'
import { NoSuchUserError, withDomain } from './domain.js'
import { cliAudit, type CliIo } from './io.js'

export async function sessions (command: string, args: string[], io: CliIo): Promise<void> {
  if (command === 'list') {
    if (args.length > 1 || args[0]?.startsWith('-')) throw new UsageError('sessions list takes at most a user name')
    const name = args[0]
    await withDomain(io, async ({ accounts, sessions }) => {
      const user = name === undefined ? undefined : await accounts.find(name)
      if (name !== undefined && !user) throw new NoSuchUserError(`no user named "${name}"`)
      const names = new Map((await accounts.list()).map((u) => [u.id, u.username]))
      for (const s of await sessions.listActive(user?.id)) {
        io.stdout.write(`${s.id}\t${names.get(s.userId) ?? s.userId}\t${s.createdAt}\t${s.lastUsedAt}\t${s.ip ?? '-'}\n`)
      }
    })
    return
  }
  // revoke
  if (args.length !== 1 || args[0].startsWith('-')) throw new UsageError('sessions revoke takes one session id (from `sessions list`)')
  const id = args[0]
  await withDomain(io, async ({ sessions, store }) => {
    const session = await store.sessions.find(id)
    if (!session) throw new DomainError('not_found', `no session with id "${id}"`)
    // Through the domain, as a logout: recorded in the change log, so running instances refuse the
    // session's access tokens at their next sync (REVOCATION_SYNC_INTERVAL; at once with Redis or PostgreSQL).
    const revoked = await sessions.revoke({ sessionId: id }, 'revoked-by-cli')
    if (revoked.length === 0) {
      io.stdout.write(`session ${id} had already ended: nothing changed\n`)
      return
    }
    cliAudit(io).record('session_revoked', { userId: session.userId, sessionId: id, actor: 'cli' })
    io.stdout.write(`session ${id} revoked: its refresh token is refused now, its access tokens at the instances' next sync\n`)
  })
}
