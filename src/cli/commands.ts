import { noArgs, UsageError } from './args.js'
import { configCheck } from './config-check.js'
import { describe, type CliIo } from './io.js'
import { keys } from './keys.js'
import { migrate } from './migrate.js'
import { sessions } from './sessions.js'
import { users } from './users.js'

// Every command: its words, its arguments, one line for the overview, and its own help.
interface Command {
  words: string[]
  args: string
  summary: string
  help: string
  run: (args: string[], io: CliIo) => Promise<void>
}

const PASSWORD_INPUT = 'The password is read from a prompt (typed twice, not echoed) or, when stdin is not a terminal,\n' +
  'from its first line. Passwords are never taken from the command line: it ends up in shell history\n' +
  'and the process list.'

const COMMANDS: Command[] = [
  { words: ['users', 'add'], args: 'NAME', summary: 'create a user', help: `Creates a user.\n${PASSWORD_INPUT}`, run: (a, io) => users('add', a, io) },
  { words: ['users', 'list'], args: '', summary: 'list users', help: 'Lists every user, one a line: id, name, enabled or disabled, created (tab-separated).', run: (a, io) => users('list', a, io) },
  { words: ['users', 'lookalikes'], args: '', summary: 'list existing names that look alike', help: 'Lists the users whose names look alike, made before the rules that refuse such a name now (another\nscript\'s letters, invisible characters): one a line, group number, id, name, enabled or disabled,\ncreated (tab-separated), a group per look. Invisible characters are shown as <U+XXXX>; a name that\nholds one is listed even alone. Nothing is changed: they all log in as before; disable or keep them.', run: (a, io) => users('lookalikes', a, io) },
  { words: ['users', 'disable'], args: 'NAME', summary: 'refuse the user\'s logins and end their sessions', help: 'Refuses the user\'s logins and ends their sessions (running instances refuse their access tokens at\ntheir next sync). The last enabled admin cannot be disabled.', run: (a, io) => users('disable', a, io) },
  { words: ['users', 'enable'], args: 'NAME', summary: 'allow the user\'s logins again', help: 'Allows the user\'s logins again.', run: (a, io) => users('enable', a, io) },
  { words: ['users', 'set-password'], args: 'NAME', summary: 'replace the password and end their sessions', help: `Replaces the user's password and ends their sessions.\n${PASSWORD_INPUT}`, run: (a, io) => users('set-password', a, io) },
  { words: ['users', 'roles'], args: 'NAME [--add ROLE | --remove ROLE]', summary: 'show, give or take a role', help: 'Without an option, prints the user\'s roles. --add ROLE or --remove ROLE (also --add=ROLE) gives or\ntakes one role and ends the user\'s sessions (tokens carry roles). The last enabled admin cannot lose admin.', run: (a, io) => users('roles', a, io) },
  { words: ['sessions', 'list'], args: '[NAME]', summary: 'list active sessions (of one user)', help: 'Lists the active sessions (neither ended nor expired), every user\'s or NAME\'s, newest first, one a\nline: id, user, created, last used, client address (tab-separated; "-" when unknown).', run: (a, io) => sessions('list', a, io) },
  { words: ['sessions', 'revoke'], args: 'SESSION_ID', summary: 'end one session', help: 'Ends one session, as a logout does: its refresh token is refused at once, and running instances\nrefuse its access tokens at their next sync (REVOCATION_SYNC_INTERVAL; sooner with Redis or PostgreSQL).\nA session that had already ended is left as it is (exit 0); an unknown id exits 1.', run: (a, io) => sessions('revoke', a, io) },
  { words: ['keys', 'list'], args: '', summary: 'each signing key with its state', help: 'Lists each signing key: kid, algorithm, state (pending, active, verifying, retired), when it signs\nfrom and when it retires. No key material is printed.', run: (a, io) => keys('list', a, io) },
  { words: ['keys', 'rotate'], args: '', summary: 'publish a new signing key', help: 'Publishes a new signing key now; it signs after KEY_PUBLISH_DELAY, and the previous key still verifies\nuntil the tokens it signed have expired. Not possible with a shared JWT_SECRET (HS256).', run: (a, io) => keys('rotate', a, io) },
  { words: ['migrate'], args: '', summary: 'bring the store\'s schema up to date', help: 'Brings the store\'s schema up to date and says which migrations ran. The service also does this when it\nstarts; this runs it ahead, say before a rolling upgrade. Safe to run while instances are running.', run: async (a, io) => { noArgs(a, 'migrate'); await migrate(io) } },
  { words: ['config', 'check'], args: '', summary: 'validate the environment; print the settings', help: 'Validates the environment (and .env) exactly as the server does at start, the rules between variables\nincluded, and prints every setting in effect, "(default)" where the variable is not set. Secrets are\nmasked: JWT_SECRET, KEY_ENCRYPTION_KEY, ADMIN_PASSWORD, METRICS_TOKEN, and the passwords in DATABASE_URL\nand REDIS_URL. Exit 1 with the problem, naming the variable, when the server would refuse to start.', run: async (a, io) => { noArgs(a, 'config check'); await configCheck(io) } }
]

const GROUPS: Record<string, string> = { users: 'Users', sessions: 'Sessions', keys: 'Signing keys', config: 'Configuration' }
const line = (c: Command) => [...c.words, c.args].filter(Boolean).join(' ')

const OVERVIEW = () => {
  const width = Math.max(...COMMANDS.map((c) => line(c).length)) + 2
  const sections = new Map<string, Command[]>()
  for (const c of COMMANDS) {
    const section = GROUPS[c.words[0]] ?? 'Store'
    sections.set(section, [...(sections.get(section) ?? []), c])
  }
  return `usage: auth-service COMMAND [ARGUMENTS]      (in the checkout: npm run cli -- COMMAND [ARGUMENTS])

${[...sections].map(([title, cs]) => `${title}\n${cs.map((c) => `  ${line(c).padEnd(width)}${c.summary}`).join('\n')}`).join('\n\n')}

  ${'help [COMMAND]'.padEnd(width)}this, or a command's details (also COMMAND --help, -h)

Configuration comes from the environment and .env, as for the server (DATABASE_URL, ARGON2_*, ...).
Changes are also written to stderr as audit records, one JSON line each: {"level":30,"time":...,"audit":{...}}.
Exit codes: 0 done; 1 refused or failed (a bad password, an unknown user or session, a bad
configuration, the database unreachable), with one line on stderr; 2 a usage error.`
}

function groupUsage (group: string): string {
  const cs = COMMANDS.filter((c) => c.words[0] === group)
  const width = Math.max(...cs.map((c) => line(c).length)) + 2
  return `usage: auth-service ${group} COMMAND\n\n${cs.map((c) => `  ${line(c).padEnd(width)}${c.summary}`).join('\n')}\n\n` +
    `Run \`auth-service help ${group} COMMAND\` for a command's details.`
}

const commandUsage = (c: Command) => `usage: auth-service ${line(c)}\n\n${c.help}`

// What a list of words names: a command, a group, the whole CLI (no words), or nothing.
type Target = { command: Command } | { group: string } | { top: true } | undefined
function resolve (words: string[]): Target {
  if (words.length === 0) return { top: true }
  const command = COMMANDS.find((c) => c.words.length === words.length && c.words.every((w, i) => w === words[i]))
  if (command) return { command }
  if (words.length === 1 && words[0] in GROUPS) return { group: words[0] }
  return undefined
}

const usageOf = (target: NonNullable<Target>) => 'command' in target ? commandUsage(target.command) : 'group' in target ? groupUsage(target.group) : OVERVIEW()

const isHelp = (arg: string) => arg === '--help' || arg === '-h'

async function run (argv: string[], io: CliIo): Promise<void> {
  // help [WORDS…]: the help of what the words name.
  if (argv[0] === 'help') {
    const target = resolve(argv.slice(1))
    if (!target) throw new UsageError(`unknown command: ${argv.slice(1).join(' ')}`, OVERVIEW())
    io.stdout.write(usageOf(target) + '\n')
    return
  }
  // The words before the first option name the command; --help or -h anywhere asks for its help.
  const firstOption = argv.findIndex((a) => a.startsWith('-'))
  const words = firstOption === -1 ? argv : argv.slice(0, firstOption)
  if (argv.some(isHelp)) {
    // `users add bob --help`: the longest leading words that name something (users add).
    for (let n = Math.min(words.length, 2); n >= 0; n--) {
      const target = resolve(words.slice(0, n))
      if (target && (n > 0 || words.length === 0)) {
        io.stdout.write(usageOf(target) + '\n')
        return
      }
    }
    throw new UsageError(`unknown command: ${words.join(' ')}`, OVERVIEW())
  }
  if (argv.length === 0) throw new UsageError('no command given', OVERVIEW())
  const [first, second] = argv
  const single = resolve([first])
  if (single && 'command' in single) return runCommand(single.command, argv.slice(1), io)
  // An option is named without its value (--password=… must not be echoed).
  if (!single) throw new UsageError(`unknown ${first.startsWith('-') ? `option: ${first.split('=')[0]}` : `command: ${first}`}`, OVERVIEW())
  if (second === undefined) throw new UsageError(`${first} needs a command`, groupUsage(first))
  const target = resolve([first, second])
  if (!target || !('command' in target)) throw new UsageError(`unknown command: ${first} ${second}`, groupUsage(first))
  return runCommand(target.command, argv.slice(2), io)
}

async function runCommand (command: Command, args: string[], io: CliIo): Promise<void> {
  try {
    await command.run(args, io)
  } catch (err) {
    if (err instanceof UsageError && err.usage === undefined) err.usage = commandUsage(command)
    throw err
  }
}

// Exit codes: 0 done; 1 refused or failed (bad password, unknown or duplicate user, unknown session, bad
// role, the last admin's admin role, bad configuration, the database unreachable); 2 usage. Errors are one
// line on stderr, never a stack.
export async function main (argv: string[], io: CliIo): Promise<number> {
  try {
    await run(argv, io)
    return 0
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`error: ${err.message}\n\n${err.usage ?? OVERVIEW()}\n`)
      return 2
    }
    io.stderr.write(`error: ${describe(err)}\n`)
    return 1
  }
}
