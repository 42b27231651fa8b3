import { Type } from '@sinclair/typebox'
import envSchema from 'env-schema'
import { existsSync, readFileSync } from 'node:fs'
import { parseEnv } from 'node:util'
import { configProblem, trustProxyProblem, trustProxySetting, type TrustProxy } from './rules.js'
import { ConfigSchema, type Config } from './schema.js'

// A .env file is read by Node's own parser (process.loadEnvFile, here and in fastify-cli), which is lax:
// on Node 20 a line without "=" ran on into the next line's name (`PORT 3000` then `KEY_ENCRYPTION_KEY=…`
// unset KEY_ENCRYPTION_KEY); on 26 such a line is dropped without a word.
// A byte-order mark, an unusual space or `export<TAB>` before a name makes Node read another name; an
// unquoted `#` cuts a value short; text after a closing quote is dropped (a BOM silently unset
// KEY_ENCRYPTION_KEY, and signing keys were then stored in the clear). So the file is checked
// first: every line empty, a comment, or NAME=value (a quoted value may span lines); then Node's own
// parser (util.parseEnv, the one loadEnvFile uses) must read every name as written, and every one-line
// value as written. The message names the line, never its content (it may hold a secret).
interface EnvLine { line: number, name: string, value?: string } // value: as written, for one-line values

// The value a one-line entry says, as a reader of the file takes it; undefined when the line is ambiguous.
function writtenValue (raw: string): string | undefined {
  const quote = raw[0]
  if (quote === '"' || quote === "'" || quote === '`') {
    const close = raw.indexOf(quote, 1)
    const rest = raw.slice(close + 1).trim()
    if (rest !== '' && !rest.startsWith('#')) return undefined // text after the closing quote
    const inner = raw.slice(1, close)
    return quote === '"' ? inner.replaceAll('\\n', '\n') : inner
  }
  const comment = raw.search(/\s#/)
  const value = (comment === -1 ? raw : raw.slice(0, comment)).trim()
  return value.includes('#') ? undefined : value // `abc#rest`: a comment to Node, part of the value to its writer
}

const misread = (path: string, line: number, name: string) =>
  `${path} line ${line}: the value of ${name} would be read as something else than written (an unquoted # starts a comment; text after a closing quote is dropped): quote the whole value`

export function envFileProblem (path = '.env'): string | undefined {
  if (!existsSync(path)) return undefined
  const text = readFileSync(path, 'utf8')
  if (text.startsWith('\uFEFF')) return `${path} starts with a byte-order mark, which Node's parser reads as part of the first name: save the file without it`
  const lines = text.split(/\r?\n/)
  const entries: EnvLine[] = []
  let open: string | undefined // the quote of a value still open on the lines before
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]
    if (open !== undefined) {
      if (line.includes(open)) open = undefined
      continue
    }
    const trimmed = line.trim()
    if (trimmed === '' || trimmed.startsWith('#')) continue
    const match = /^(?:export +)?([A-Za-z_][A-Za-z0-9_.-]*) *= *(.*)$/.exec(line.replace(/^[ \t]+/, '').replace(/[ \t]+$/, ''))
    if (!match) return `${path} line ${i + 1} is not NAME=value (nor empty, nor a # comment): fix it, or the variable after it may be lost`
    const [, name, raw] = match
    const quote = raw[0]
    if ((quote === '"' || quote === "'" || quote === '`') && !raw.slice(1).includes(quote)) {
      open = quote
      entries.push({ line: i + 1, name })
    } else {
      const value = writtenValue(raw)
      if (value === undefined) return misread(path, i + 1, name)
      entries.push({ line: i + 1, name, value })
    }
  }
  if (open !== undefined) return `${path}: a quoted value is not closed`
  const parsed = parseEnv(text)
  const last = new Map(entries.map((e) => [e.name, e])) // a name given twice: the last one counts, as in Node
  for (const entry of entries) {
    if (!Object.hasOwn(parsed, entry.name)) {
      return `${path} line ${entry.line}: Node's parser does not read the name ${entry.name} there (a byte-order mark, an unusual space or a tab before it?): retype the line`
    }
  }
  for (const entry of last.values()) {
    if (entry.value !== undefined && parsed[entry.name] !== entry.value) {
      return misread(path, entry.line, entry.name)
    }
  }
  return undefined
}

// Configuration for programs that run without Fastify (the CLI): the same schema, the same .env file
// that fastify-cli would load, the same error messages.
export function loadConfig (env: NodeJS.ProcessEnv = process.env): Config {
  const envFile = envFileProblem()
  if (envFile) throw new Error(envFile)
  if (env === process.env && existsSync('.env')) process.loadEnvFile('.env')
  const config = envSchema<Config>({ schema: ConfigSchema, data: env, env: false })
  const problem = configProblem(config)
  if (problem) throw new Error(problem)
  return config
}

// The settings that are server options rather than plugin options, so they must be known before Fastify
// exists: src/app.ts reads them when it is imported (fastify-cli imports it after loading .env, then
// builds the server from its `options`). Validated by the same schema, with the same messages, as the
// rest; the env plugin checks the whole configuration again, and app() checks that the server got these.
const ServerSettingsSchema = Type.Pick(ConfigSchema, ['TRUST_PROXY'])

export function loadServerSettings (env: Record<string, string | undefined> = process.env): { trustProxy: TrustProxy } {
  const { TRUST_PROXY } = envSchema<Pick<Config, 'TRUST_PROXY'>>({ schema: ServerSettingsSchema, data: env, env: false })
  const problem = trustProxyProblem(TRUST_PROXY)
  if (problem) throw new Error(problem)
  return { trustProxy: trustProxySetting(TRUST_PROXY) }
}
