import { Type } from '@sinclair/typebox'
import envSchema from 'env-schema'
import { existsSync } from 'node:fs'
import { configProblem, ConfigSchema, trustProxyProblem, trustProxySetting, type Config, type TrustProxy } from './config.js'

// Configuration for programs that run without Fastify (the CLI): the same schema, the same .env file
// that fastify-cli would load, the same error messages.
export function loadConfig (env: NodeJS.ProcessEnv = process.env): Config {
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
