import { noArgs, oneName, UsageError } from './args.js'
import { NoSuchUserError, withDomain } from './domain.js'
import { cliAudit, readPassword, type CliIo } from './io.js'

// users roles <name> [--add <role> | --remove <role>] (also --add=<role>).
function rolesArgs (args: string[]): { name: string, change?: { add: string } | { remove: string } } {
  const [name, ...rest] = args
  if (name === undefined || name.startsWith('-')) throw new UsageError('users roles needs a user name')
  if (rest.length === 0) return { name }
  const joined = /^(--add|--remove)=(.*)$/s.exec(rest[0])
  const [flag, value, extra] = joined ? [joined[1], joined[2], rest.slice(1)] : [rest[0], rest[1], rest.slice(2)]
  if ((flag !== '--add' && flag !== '--remove') || value === undefined || value === '' || extra.length > 0) {
    throw new UsageError('users roles takes a user name and at most one --add <role> or --remove <role>')
  }
  return { name, change: flag === '--add' ? { add: value } : { remove: value } }
}

export async function users (command: string, args: string[], io: CliIo): Promise<void> {
  const roles = command === 'roles' ? rolesArgs(args) : undefined
  const listing = command === 'list' || command === 'lookalikes'
  if (listing) noArgs(args, `users ${command}`)
  const name = listing ? undefined : roles?.name ?? oneName(args, command)
  const audit = cliAudit(io)
  await withDomain(io, async ({ accounts }) => {
    switch (command) {
      case 'list':
        for (const u of await accounts.list()) {
          io.stdout.write(`${u.id}\t${u.username}\t${u.disabled ? 'disabled' : 'enabled'}\t${u.createdAt}\n`)
        }
        break
      case 'lookalikes': {
        const { shownName } = await import('../text/usernames.js')
        const groups = await accounts.lookAlikes()
        if (groups.length === 0) io.stdout.write('no two names look alike, and none holds an invisible character\n')
        groups.forEach((group, i) => {
          for (const u of group) io.stdout.write(`${i + 1}\t${u.id}\t${shownName(u.username)}\t${u.disabled ? 'disabled' : 'enabled'}\t${u.createdAt}\n`)
        })
        break
      }
      case 'add': {
        const user = await accounts.create(name!, await readPassword(io, true))
        audit.record('user_created', { userId: user.id, actor: 'cli' })
        io.stdout.write(`created user "${user.username}" (${user.id})\n`)
        break
      }
      case 'set-password': {
        if (!await accounts.find(name!)) throw new NoSuchUserError(`no user named "${name}"`)
        const user = await accounts.setPassword(name!, await readPassword(io, true))
        audit.record('password_changed', { userId: user.id, actor: 'cli' })
        io.stdout.write(`password of "${name}" replaced\n`)
        break
      }
      case 'disable':
      case 'enable': {
        const user = await accounts.setDisabledByName(name!, command === 'disable')
        audit.record(command === 'disable' ? 'user_disabled' : 'user_enabled', { userId: user.id, actor: 'cli' })
        io.stdout.write(`user "${name}" ${command}d\n`)
        break
      }
      case 'roles': {
        const change = roles!.change
        if (change === undefined) {
          const user = await accounts.find(name!)
          if (!user) throw new NoSuchUserError(`no user named "${name}"`)
          io.stdout.write(`${user.roles.join(',') || '(no roles)'}\n`)
          break
        }
        const added = 'add' in change
        const role = added ? change.add : change.remove
        const result = await accounts.changeRole(name!, change)
        if (!result.changed) {
          io.stdout.write(`"${result.user.username}" ${added ? 'already has' : 'does not have'} the role "${role}": nothing changed\n`)
          break
        }
        audit.record('role_changed', { userId: result.user.id, role, change: added ? 'added' : 'removed', actor: 'cli' })
        io.stdout.write(`role "${role}" ${added ? 'given to' : 'taken from'} "${result.user.username}"; their sessions ended; ` +
          `roles now: ${result.roles.join(',') || '(none)'}\n`)
        break
      }
    }
  })
}
