import cors from '@fastify/cors'
import fp from 'fastify-plugin'
import { corsOrigins } from '../src/config/rules.js'

// CORS, for browser applications on other origins that call the API: off unless CORS_ORIGINS lists them.
// Only a listed origin (compared exactly, as the browser sends it) gets Access-Control-Allow-Origin, and a
// preflight answer; any other origin gets no CORS header at all, and its preflight a 404, as without CORS.
// Tokens travel in the Authorization header, never in cookies, so no credentials mode.
export default fp(async function corsOriginsPlugin (fastify) {
  const allowed = new Set(corsOrigins(fastify.config.CORS_ORIGINS))
  if (allowed.size === 0) return
  await fastify.register(cors, {
    // A function (not the list itself): the plugin then sends nothing, not even Expose-Headers, to others.
    origin: (origin: string | undefined, callback: (err: Error | null, allow: boolean) => void) => callback(null, origin !== undefined && allowed.has(origin)),
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE'],
    allowedHeaders: ['Authorization', 'Content-Type'],
    exposedHeaders: ['Retry-After', 'WWW-Authenticate'],
    maxAge: 600 // seconds a browser may reuse a preflight answer
  })
}, { name: 'cors', dependencies: ['env', 'security-headers'] }) // helmet's hook first: preflights get its headers too
