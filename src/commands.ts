import { createInterface } from 'node:readline'
import { Writable } from 'node:stream'
import { AccountError, NoSuchUserError } from './accounts.js'
import { loadConfig } from './load-config.js'
import { withServices } from './services.js'

const USAGE = `usage: auth-service users|keys <command>
  users add <name>            create a user; the password is read from a prompt or stdin
  users list                  list users
  users disable <name>        refuse the user's logins and end their sessions
  users enable <name>         allow them again
  users set-password <name>   replace the password (prompt or stdin) and end their sessions
  keys rotate                 publish a new signing key; it signs after KEY_PUBLISH_DELAY
  keys list                   each signing key with its state (pending, active, verifying, retired)

Passwords are never taken from the command line: it ends up in shell history and the process list.
Configuration comes from the environment and .env, as for the server (DATABASE_URL, ARGON2_*).`

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
      io.stdout.write(`new key ${key.kid} (${key.alg}) published now, signing from ${new Date(key.activatesAt).toISOString()}\n`)
    }
    for (const k of ring.states()) {
      io.stdout.write(`${k.kid}\t${k.alg}\t${k.state}\tactivates ${new Date(k.activatesAt).toISOString()}` +
        (k.retiresAt ? `\tretires ${new Date(k.retiresAt).toISOString()}` : '') + '\n')
    }
  })
}

async function run (argv: string[], io: CliIo): Promise<void> {
  const [group, command, ...args] = argv
  if (group === 'keys') return keys(command, args, io)
  if (group !== 'users' || command === undefined) throw new UsageError(argv.length ? `unknown command: ${argv.join(' ')}` : 'no command given')
  if (!['add', 'list', 'disable', 'enable', 'set-password'].includes(command)) throw new UsageError(`unknown command: users ${command}`)
  const name = command === 'list' ? undefined : oneName(args, command)
  if (command === 'list' && args.length > 0) throw new UsageError('users list takes no arguments')

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
        io.stdout.write(`created user "${user.username}" (${user.id})\n`)
        break
      }
      case 'set-password':
        if (!await accounts.find(name!)) throw new NoSuchUserError(`no user named "${name}"`)
        await accounts.setPassword(name!, await readPassword(io, true))
        io.stdout.write(`password of "${name}" replaced\n`)
        break
      case 'disable':
      case 'enable':
        await accounts.setDisabledByName(name!, command === 'disable')
        io.stdout.write(`user "${name}" ${command}d\n`)
        break
    }
  }, warn)
}

// Exit codes: 0 done, 1 refused (bad password, unknown or duplicate user, bad configuration), 2 usage.
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
