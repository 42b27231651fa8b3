import { createInterface } from 'node:readline'
import { Writable } from 'node:stream'
import { Audit } from './audit.js'
import type { Config } from './config.js'
import { DomainError } from './errors.js'
import type { Services } from './services.js'

// The domain, the store's drivers and the configuration's schema are loaded by the commands that use
// them, not for `--help` or a usage error: those answer at once.
const loadConfig = async (env: NodeJS.ProcessEnv) => (await import('./load-config.js')).loadConfig(env)
const database = () => import('./store/database.js')
const isPostgresUrl = (url: string) => /^postgres(ql)?:\/\//.test(url)
class NoSuchUserError extends DomainError {
  constructor (what: string) { super('not-found', what) }
}

// A mistake in the command line: exit code 2, with the usage of the command it concerns.
export class UsageError extends Error {
  usage?: string
  constructor (message: string, usage?: string) {
    super(message)
    this.usage = usage
  }
}

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
  if (confirm && password !== await ask('Repeat password: ')) throw new DomainError('invalid', 'the passwords do not match')
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

function noArgs (args: string[], command: string): void {
  if (args.length > 0) throw new UsageError(`${command} takes no arguments`)
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

// The domain for one command: the configuration from the environment (as the server reads it), the
// database opened and brought up to date, closed after. A database that cannot be reached is one line.
async function withDomain<T> (io: CliIo, use: (services: Services, config: Config) => Promise<T>): Promise<T> {
  const config = await loadConfig(io.env)
  const { withServices } = await import('./services.js')
  try {
    return await withServices(config, (services) => use(services, config), (message) => { io.stderr.write(`warning: ${message}\n`) })
  } catch (err) {
    throw await unavailable(err, config)
  }
}

// An error that means the store cannot be reached, said with where it is (its password masked).
async function unavailable (err: unknown, config: Config): Promise<unknown> {
  if (!(await database()).isStoreUnavailable(err)) return err
  const what = isPostgresUrl(config.DATABASE_URL) ? 'cannot reach the database' : 'cannot use the database'
  const reason = describe(err)
  return new Error(`${what} ${maskUrl(config.DATABASE_URL)}: ${reason}` +
    (/timeout/i.test(reason) ? ` (DATABASE_CONNECT_TIMEOUT=${config.DATABASE_CONNECT_TIMEOUT} s)` : ''))
}

// One line for any error: its message, or its parts' (Node's AggregateError for a host with several
// addresses has an empty message), or its cause's.
function describe (err: unknown): string {
  if (!(err instanceof Error)) return String(err)
  if (err.message) return err.message.split('\n')[0]
  if (err instanceof AggregateError) return [...new Set(err.errors.map(describe))].join('; ')
  return err.cause !== undefined ? describe(err.cause) : (err as { code?: string }).code ?? err.name
}

// The password in a URL (user:password@, up to the last @ before the path, since parsers take an
// unencoded @ as part of it; or any query parameter whose name, decoded, holds "pass": password,
// sslpassword, pass%77ord…), masked.
// Redis's older form puts the password alone before the @ (redis://PASSWORD@host): masked whole there.
export function maskUrl (url: string): string {
  return url
    .replace(/^([a-z][a-z0-9+.-]*:\/\/[^/@:?#]*):[^/?#]*@/i, '$1:***@')
    .replace(/^(rediss?:\/\/)[^/@:?#]+@/i, '$1***@')
    .replace(/([?&])([^=&]*)=([^&#]*)/g, (whole, sep: string, name: string) => {
      let decoded = name
      try { decoded = decodeURIComponent(name) } catch {}
      return /pass/i.test(decoded) ? `${sep}${name}=***` : whole
    })
}

const SECRETS = new Set(['JWT_SECRET', 'KEY_ENCRYPTION_KEY', 'ADMIN_PASSWORD', 'METRICS_TOKEN'])
const URLS = new Set(['DATABASE_URL', 'REDIS_URL', 'BREACHED_PASSWORD_API_URL', 'PUBLIC_URL'])

// `config check`: the environment validated exactly as the server validates it (the schema, then the
// rules between variables), and the settings that result, secrets masked.
async function configCheck (io: CliIo): Promise<void> {
  const env = io.env
  const config = await loadConfig(env) as Record<string, unknown>
  const { ConfigSchema, trustProxyWarning } = await import('./config.js')
  // What the server warns about at start, said here too (on stderr: stdout stays the settings).
  const warning = trustProxyWarning(String(config.TRUST_PROXY))
  if (warning) io.stderr.write(`warning: ${warning}\n`)
  // loadConfig loads .env into process.env when it reads process.env: what was set is known after.
  const given = (name: string) => env[name] !== undefined
  const names = Object.keys(ConfigSchema.properties).sort()
  const width = Math.max(...names.map((n) => n.length))
  io.stdout.write('configuration valid; the settings in effect (secrets masked):\n')
  for (const name of names) {
    const value = config[name]
    let shown: string
    if (value === undefined) shown = '(unset)'
    else if (SECRETS.has(name)) shown = '*** (set)'
    else if (URLS.has(name)) shown = maskUrl(String(value))
    else shown = String(value)
    io.stdout.write(`${name.padEnd(width)}  ${shown}${value !== undefined && !given(name) ? '  (default)' : ''}\n`)
  }
}

// `migrate`: the store's schema brought up to date, saying what ran.
async function migrate (io: CliIo): Promise<void> {
  const config = await loadConfig(io.env)
  const { connectDatabase, databaseOptions } = await database()
  const { MIGRATIONS } = await import('./store/migrations.js')
  const store = connectDatabase(config.DATABASE_URL, databaseOptions(config))
  try {
    await store.open()
  } catch (err) {
    throw await unavailable(err, config)
  } finally {
    await store.db.destroy()
  }
  const latest = MIGRATIONS[MIGRATIONS.length - 1]
  if (store.migrated.length === 0) {
    io.stdout.write(`nothing to do: the schema is up to date (${MIGRATIONS.length} migrations, the latest ${latest})\n`)
  } else {
    for (const name of store.migrated) io.stdout.write(`ran ${name}\n`)
    io.stdout.write(`the schema is up to date (${MIGRATIONS.length} migrations, the latest ${latest})\n`)
  }
}

async function users (command: string, args: string[], io: CliIo): Promise<void> {
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
        const { shownName } = await import('./usernames.js')
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

async function sessions (command: string, args: string[], io: CliIo): Promise<void> {
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
    if (!session) throw new DomainError('not-found', `no session with id "${id}"`)
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

async function keys (command: string, args: string[], io: CliIo): Promise<void> {
  noArgs(args, `keys ${command}`)
  await withDomain(io, async ({ keys: ring }) => {
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
