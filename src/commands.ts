import { createInterface } from 'node:readline'
import { Writable } from 'node:stream'
import { AccountError, NoSuchUserError } from './accounts.js'
import { Audit } from './audit.js'
import { loadConfig } from './load-config.js'
import { withServices } from './services.js'

const USAGE = `usage: auth-service users|keys <command>
  users add <name>            create a user; the password is read from a prompt or stdin
  users list                  list users
  users disable <name>        refuse the user's logins and end their sessions
  users enable <name>         allow them again
  users set-password <name>   replace the password (prompt or stdin) and end their sessions
  users roles <name>          the user's roles
  users roles <name> --add <role> | --remove <role>
                              give or take one role and end their sessions (tokens carry roles);
                              the last enabled admin cannot lose admin
  keys rotate                 publish a new signing key; it signs after KEY_PUBLISH_DELAY
  keys list                   each signing key with its state (pending, active, verifying, retired)

Passwords are never taken from the command line: it ends up in shell history and the process list.
Configuration comes from the environment and .env, as for the server (DATABASE_URL, ARGON2_*).
Each change is also written to stderr as an audit record, one JSON line: {"level":30,"time":…,"audit":{…}}.`

export class UsageError extends Error {}

export interface CliIo {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean }
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WritableStream
  env: NodeJS.ProcessEnv
}

// Reads a password without echoing it when a person is typing, or the first line of stdin when piped.
async function readPassword (io: CliIo, confirm: boolean): Promise<string> {
  if (!io.stdin.isTTY) {
    let data = ''
    for await (const chunk of io.stdin) data += chunk.toString()
    return data.split(/\r?\n/)[0] ?? ''
  }
  const ask = (prompt: string) => new Promise<string>((resolve) => {
    let muted = false
    const output = new Writable({
      write (chunk, _enc, done) { if (!muted) io.stderr.write(chunk); done() }
    })
    const rl = createInterface({ input: io.stdin, output, terminal: true })
    rl.question(prompt, (answer) => { rl.close(); io.stderr.write('\n'); resolve(answer) })
    muted = true
  })
  const password = await ask('Password: ')
  if (confirm && password !== await ask('Repeat password: ')) throw new AccountError('the passwords do not match')
  return password
}

// Audit records of the CLI's changes, in the server's line shape (pino's level numbers, epoch ms), on
// stderr: stdout stays the command's answer, for people and scripts.
function cliAudit (io: CliIo): Audit {
  return new Audit((record, level) => {
    io.stderr.write(JSON.stringify({ level: level === 'warn' ? 40 : 30, time: Date.now(), audit: record, msg: 'audit' }) + '\n')
  })
}

function oneName (args: string[], command: string): string {
  if (args.length === 0) throw new UsageError(`users ${command} needs a user name`)
  if (args.length > 1 || args[0].startsWith('-')) {
    throw new UsageError(`users ${command} takes only a user name: passwords are never read from the command line; ` +
      'type it at the prompt or pipe it on stdin')
  }
  return args[0]
}

async function keys (command: string | undefined, args: string[], io: CliIo): Promise<void> {
  if (command !== 'rotate' && command !== 'list') throw new UsageError(`unknown command: keys ${command ?? ''}`.trim())
  if (args.length > 0) throw new UsageError(`keys ${command} takes no arguments`)
  await withServices(loadConfig(io.env), async ({ keys: ring }) => {
    await ring.refresh()
    if (command === 'rotate') {
      const key = await ring.rotate()
      cliAudit(io).record('key_rotated', { kid: key.kid, activatesAt: new Date(key.activatesAt).toISOString(), actor: 'cli' })
      io.stdout.write(`new key ${key.kid} (${key.alg}) published now, signing from ${new Date(key.activatesAt).toISOString()}\n`)
    }
    for (const k of ring.states()) {
      io.stdout.write(`${k.kid}\t${k.alg}\t${k.state}\tactivates ${new Date(k.activatesAt).toISOString()}` +
        (k.retiresAt ? `\tretires ${new Date(k.retiresAt).toISOString()}` : '') + '\n')
    }
  })
}

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

async function run (argv: string[], io: CliIo): Promise<void> {
  const [group, command, ...args] = argv
  if (group === 'keys') return keys(command, args, io)
  if (group !== 'users' || command === undefined) throw new UsageError(argv.length ? `unknown command: ${argv.join(' ')}` : 'no command given')
  if (!['add', 'list', 'disable', 'enable', 'set-password', 'roles'].includes(command)) throw new UsageError(`unknown command: users ${command}`)
  const roles = command === 'roles' ? rolesArgs(args) : undefined
  const name = command === 'list' ? undefined : roles?.name ?? oneName(args, command)
  if (command === 'list' && args.length > 0) throw new UsageError('users list takes no arguments')
  const audit = cliAudit(io)

  const warn = (message: string) => { io.stderr.write(`warning: ${message}\n`) }
  await withServices(loadConfig(io.env), async ({ accounts }) => {
    switch (command) {
      case 'list':
        for (const u of await accounts.list()) {
          io.stdout.write(`${u.id}\t${u.username}\t${u.disabled ? 'disabled' : 'enabled'}\t${u.createdAt}\n`)
        }
        break
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
  }, warn)
}

// Exit codes: 0 done, 1 refused (bad password, unknown or duplicate user, bad role, the last admin's admin
// role, bad configuration), 2 usage.
export async function main (argv: string[], io: CliIo): Promise<number> {
  try {
    await run(argv, io)
    return 0
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`error: ${err.message}\n\n${USAGE}\n`)
      return 2
    }
    io.stderr.write(`error: ${(err as Error).message}\n`)
    return 1
  }
}
