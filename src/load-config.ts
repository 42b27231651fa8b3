import envSchema from 'env-schema'
import { existsSync } from 'node:fs'
import { configProblem, ConfigSchema, type Config } from './config.js'

// Configuration for programs that run without Fastify (the CLI): the same schema, the same .env file
// that fastify-cli would load, the same error messages.
export function loadConfig (env: NodeJS.ProcessEnv = process.env): Config {
  if (env === process.env && existsSync('.env')) process.loadEnvFile('.env')
  const config = envSchema<Config>({ schema: ConfigSchema, data: env, env: false })
  const problem = configProblem(config)
  if (problem) throw new Error(problem)
  return config
}
