import fastifyEnv from '@fastify/env'
import fp from 'fastify-plugin'
import { configProblem } from '../src/config/rules.js'
import { ConfigSchema, type Config } from '../src/config/schema.js'

declare module 'fastify' {
  interface FastifyInstance { config: Config }
}

export interface EnvPluginOptions {
  // Values laid over process.env; tests use it to configure one app without touching the process.
  env?: Record<string, string | undefined>
}

// Validates the environment against the one config schema; a bad value stops start-up with
// "env/<VARIABLE> must …". fastify-cli has already loaded .env into process.env.
export default fp<EnvPluginOptions>(async function env (fastify, opts) {
  await fastify.register(fastifyEnv, { schema: ConfigSchema, data: opts.env ?? {} })
  const problem = configProblem(fastify.config)
  if (problem) throw new Error(problem)
}, { name: 'env' })
