#!/usr/bin/env node
// npm run dev: the service with pretty logs, rebuilt and restarted on every change. TypeScript compiles
// src/, plugins/ and routes/ into dist/ as they change (tsc --watch); Node restarts the server when dist/
// changes (node --watch-path), with SIGTERM, so it shuts down as in production. Ctrl-C stops both.
// PORT, FASTIFY_ADDRESS, FASTIFY_LOG_LEVEL and .env work as under npm start.
import { spawn, spawnSync } from 'node:child_process'
import { join } from 'node:path'

const root = join(import.meta.dirname, '..')
const built = spawnSync(process.execPath, [join(root, 'scripts', 'ensure-built.mjs')], { cwd: root, stdio: 'inherit' })
if (built.status !== 0) process.exit(built.status ?? 1)

const children = new Set()
let stopping = false
const stop = (code) => {
  stopping = true
  for (const child of children) child.kill('SIGTERM')
  if (children.size === 0) process.exit(code)
}
const track = (child, name) => {
  children.add(child)
  child.on('exit', (code) => {
    children.delete(child)
    if (!stopping) { process.stderr.write(`dev: ${name} exited (${code}); stopping\n`); stop(code ?? 1) } else if (children.size === 0) process.exit(0)
  })
  return child
}
process.on('SIGINT', () => stop(0))
process.on('SIGTERM', () => stop(0))

// The first compile of tsc --watch rewrites dist/: the server starts once it is done, not before.
const tsc = track(spawn(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json', '--watch', '--preserveWatchOutput'],
  { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] }), 'tsc --watch')
let server
tsc.stdout.on('data', (chunk) => {
  process.stdout.write(chunk)
  if (server === undefined && /Watching for file changes/.test(chunk.toString())) {
    const level = process.env.FASTIFY_LOG_LEVEL ?? 'info'
    server = track(spawn(process.execPath, [
      '--max-semi-space-size=4',
      ...['src', 'plugins', 'routes'].map((dir) => `--watch-path=${join(root, 'dist', dir)}`),
      join(root, 'node_modules', 'fastify-cli', 'cli.js'), 'start', '-o', '-P', '-l', level, join(root, 'dist', 'src', 'app.js')
    ], { cwd: process.cwd(), stdio: 'inherit' }), 'the server')
  }
})
