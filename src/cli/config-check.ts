import { loadConfig } from './domain.js'
import type { CliIo } from './io.js'
import { maskUrl } from './mask-url.js'

const SECRETS = new Set(['JWT_SECRET', 'KEY_ENCRYPTION_KEY', 'ADMIN_PASSWORD', 'METRICS_TOKEN'])
const URLS = new Set(['DATABASE_URL', 'REDIS_URL', 'BREACHED_PASSWORD_API_URL', 'PUBLIC_URL'])

// `config check`: the environment validated exactly as the server validates it (the schema, then the
// rules between variables), and the settings that result, secrets masked.
export async function configCheck (io: CliIo): Promise<void> {
  const env = io.env
  const config = await loadConfig(env) as Record<string, unknown>
  const { ConfigSchema } = await import('../config/schema.js')
  const { trustProxyWarning } = await import('../config/rules.js')
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
