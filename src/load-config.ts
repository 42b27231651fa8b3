import { Type } from '@sinclair/typebox'
import envSchema from 'env-schema'
import { existsSync, readFileSync } from 'node:fs'
import { configProblem, ConfigSchema, trustProxyProblem, trustProxySetting, type Config, type TrustProxy } from './config.js'

// A .env file is read by Node's own parser (process.loadEnvFile, here and in fastify-cli), which takes a
// line without "=" as the start of a name that runs on into the next line: `PORT 3000` followed by
// `KEY_ENCRYPTION_KEY=…` silently unsets KEY_ENCRYPTION_KEY (found by the red team). So the file is checked
// first: every line empty, a comment, or NAME=value (a quoted value may span lines). The message names
// the line, never its content (it may hold a secret).
export function envFileProblem (path = '.env'): string | undefined {
  if (!existsSync(path)) return undefined
  const lines = readFileSync(path, 'utf8').split(/\r?\n/)
  let open: string | undefined // the quote of a value still open on the lines before
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]
    if (open !== undefined) {
      if (line.includes(open)) open = undefined
      continue
    }
    const trimmed = line.trim()
    if (trimmed === '' || trimmed.startsWith('#')) continue
    const match = /^(?:export\s+)?[A-Za-z_][A-Za-z0-9_.-]*\s*=\s*(.*)$/.exec(trimmed)
    if (!match) return `${path} line ${i + 1} is not NAME=value (nor empty, nor a # comment): fix it, or the variable after it may be lost`
    const value = match[1]
    const quote = value[0]
    if ((quote === '"' || quote === "'" || quote === '`') && !value.slice(1).includes(quote)) open = quote
  }
  return open !== undefined ? `${path}: a quoted value is not closed` : undefined
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
