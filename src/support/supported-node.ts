// The Node.js versions the service runs on, checked before anything else is loaded. Imported first by every
// entry point (src/app.ts, which fastify-cli loads; src/cli/main.ts; the bench): an ES module's imports are
// evaluated in order, depth first, so this module's body runs before the next import's graph, which loads
// the native modules (better-sqlite3 13 crashes Node 20 with SIGSEGV, @node-rs/argon2). It imports nothing
// but node:fs, so nothing native comes before it.
//
// The floor is 24, a maintained LTS line (Node 20's end of life was 2026-04-30). package.json's `engines`
// says the same (test/supported-node.test.ts holds them together); development and CI pin the version in
// .nvmrc (docs/operations.md, "Node.js").
import { writeSync } from 'node:fs'

export const NODE_FLOOR = 24

// Why `version` (process.versions.node, "20.20.2") cannot run the service; undefined when it can.
export function unsupportedNode (version: string): string | undefined {
  const major = Number(version.split('.')[0])
  if (Number.isInteger(major) && major >= NODE_FLOOR) return undefined
  return `Node.js ${version} is not supported: auth-service runs on Node.js ${NODE_FLOOR} or later (the LTS lines ${NODE_FLOOR} and 26). ` +
    'Start it with a supported node; in a checkout, npm start, npm test and npm run cli use the one npm installed (docs/operations.md, "Node.js")'
}

const problem = unsupportedNode(process.versions.node)
if (problem !== undefined) {
  // One line, written synchronously, then exit 1 at once: no module after this one is evaluated.
  writeSync(2, `fatal: ${problem}\n`)
  process.exit(1)
}
