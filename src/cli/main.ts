#!/usr/bin/env node
import '../support/supported-node.js' // first: an unsupported Node.js is refused before any native module loads
import { main } from './commands.js'

// Whatever goes wrong outside a command's own handling (an error event nobody listens to): one line on
// stderr and exit code 1, never a stack.
for (const event of ['uncaughtException', 'unhandledRejection'] as const) {
  process.on(event, (err: unknown) => {
    process.stderr.write(`error: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}\n`)
    process.exit(1)
  })
}

process.exitCode = await main(process.argv.slice(2), {
  stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env
})
