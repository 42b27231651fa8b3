import { createInterface } from 'node:readline'
import { Writable } from 'node:stream'
import { DomainError } from '../errors.js'
import { Audit } from '../observability/audit.js'

export interface CliIo {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean }
  stdout: NodeJS.WritableStream
  stderr: NodeJS.WritableStream
  env: NodeJS.ProcessEnv
}

// Reads a password without echoing it when a person is typing, or the first line of stdin when piped.
export async function readPassword (io: CliIo, confirm: boolean): Promise<string> {
  if (!io.stdin.isTTY) {
    let data = ''
    for await (const chunk of io.stdin) data += chunk.toString()
    return data.split(/\r?\n/)[0] ?? ''
  }
  const ask = (prompt: string) => new Promise<string>((resolve) => {
    let muted = false
    const output = new Writable({
      write (chunk, _enc, done) { if (!muted) io.stderr.write(chunk); done() }
    })
    const rl = createInterface({ input: io.stdin, output, terminal: true })
    rl.question(prompt, (answer) => { rl.close(); io.stderr.write('\n'); resolve(answer) })
    muted = true
  })
  const password = await ask('Password: ')
  if (confirm && password !== await ask('Repeat password: ')) throw new DomainError('validation_failed', 'the passwords do not match')
  return password
}

// Audit records of the CLI's changes, in the server's line shape (pino's level numbers, epoch ms), on
// stderr: stdout stays the command's answer, for people and scripts.
export function cliAudit (io: CliIo): Audit {
  return new Audit((record, level) => {
    io.stderr.write(JSON.stringify({ level: level === 'warn' ? 40 : 30, time: Date.now(), audit: record, msg: 'audit' }) + '\n')
  })
}

// One line for any error: its message, or its parts' (Node's AggregateError for a host with several
// addresses has an empty message), or its cause's.
export function describe (err: unknown): string {
  if (!(err instanceof Error)) return String(err)
  if (err.message) return err.message.split('\n')[0]
  if (err instanceof AggregateError) return [...new Set(err.errors.map(describe))].join('; ')
  return err.cause !== undefined ? describe(err.cause) : (err as { code?: string }).code ?? err.name
}
