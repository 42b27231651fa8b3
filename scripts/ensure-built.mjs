#!/usr/bin/env node
// Builds dist/ only when it is out of date with the sources, so that `npm start` and `npm run cli` start at
// once on a built tree. A build writes dist/.build-stamp, dated when the build began; dist/ is out of date
// when the stamp is missing or older than any source: a file or folder (a folder's date changes when a
// file in it is added, removed or renamed) under src/, plugins/, routes/ or bench/, or the tsconfig files.
// Out of date: a clean build (dist/ removed first, so that a deleted plugin's .js is not autoloaded any
// more), then the stamp. Up to date: dist/ is not touched.
//
//   node scripts/ensure-built.mjs            build if out of date (npm start, npm run cli, npm run dev)
//   node scripts/ensure-built.mjs --force    build whatever the dates say (npm run build)
//   node scripts/ensure-built.mjs --quiet    as without flags, silent when dist/ is up to date (npm run cli)
//   node scripts/ensure-built.mjs --check    never builds: exit 0 when up to date, 3 when not (tests)
//   node scripts/ensure-built.mjs --prepare  as without flags, but only a warning where TypeScript is not
//                                            installed (npm's prepare, also run by `npm ci --omit=dev`)
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'

const root = join(import.meta.dirname, '..')
const dist = join(root, 'dist')
const stamp = join(dist, '.build-stamp')
const SOURCES = ['src', 'plugins', 'routes', 'bench', 'test/support', 'tsconfig.json', 'tsconfig.build.json']
const say = (message) => process.stderr.write(`ensure-built: ${message}\n`)

// The newest source (path and mtime in ms); bench/results/ holds benchmark output, not sources.
function newest () {
  let best = { path: '', mtimeMs: 0 }
  const visit = (path) => {
    let st
    try { st = statSync(path) } catch { return }
    if (st.mtimeMs > best.mtimeMs) best = { path, mtimeMs: st.mtimeMs }
    if (!st.isDirectory()) return
    for (const entry of readdirSync(path)) {
      if (path === join(root, 'bench') && entry === 'results') continue
      visit(join(path, entry))
    }
  }
  for (const source of SOURCES) visit(join(root, source))
  return best
}

function stale () {
  if (!existsSync(stamp)) return 'no build stamp in dist/'
  const stampMs = statSync(stamp).mtimeMs
  const source = newest()
  return source.mtimeMs > stampMs ? `${relative(root, source.path)} changed since the last build` : undefined
}

// In a development install (TypeScript there), npm scripts should run on the pinned Node (docs/operations.md, "Node.js").
// npm skips an optional dependency that fails (a bad integrity, a failed download) with no more than a
// verbose log line, and scripts then run on the system's node: said here, on every build check.
function pinnedNodeWarning () {
  if (!existsSync(join(root, 'node_modules', 'typescript'))) return
  let runtime
  try { runtime = JSON.parse(readFileSync(join(root, 'scripts', 'pinned-node', 'package.json'), 'utf8')) } catch { return }
  if (!(`node-${process.platform}-${process.arch}` in (runtime.optionalDependencies ?? {}))) return
  if (process.versions.node === runtime.version) return
  say(`warning: npm scripts run on Node.js ${process.versions.node}, not the pinned ${runtime.version}: it did not install (npm skips a failed optional dependency; \`npm ci --loglevel verbose\` says why)`)
}
pinnedNodeWarning()

const args = new Set(process.argv.slice(2))
const why = args.has('--force') ? 'build asked for' : stale()
if (why === undefined) {
  if (!args.has('--quiet')) say('dist/ is up to date')
  process.exit(0)
}

if (args.has('--check')) {
  say(`out of date: ${why}`)
  process.exit(3)
}

const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')
if (!existsSync(tsc)) {
  if (args.has('--prepare')) {
    say('TypeScript is not installed (production install): not building; dist/ must come from a build elsewhere')
    process.exit(0)
  }
  say('TypeScript is not installed: run `npm ci` (with dev dependencies) to build')
  process.exit(1)
}

say(`${why}: building`)
const began = new Date()
rmSync(dist, { recursive: true, force: true })
const result = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { cwd: root, stdio: 'inherit' })
if (result.status !== 0) {
  say('the build failed')
  process.exit(result.status ?? 1)
}
mkdirSync(dist, { recursive: true })
writeFileSync(stamp, `built from the sources as they were at ${began.toISOString()}\n`)
// Dated when the build began: a source saved during the build is newer, and the next start builds again.
utimesSync(stamp, began, began)
say(`built in ${((Date.now() - began.getTime()) / 1000).toFixed(1)} s`)
