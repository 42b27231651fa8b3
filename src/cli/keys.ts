import { noArgs } from './args.js'
import { withDomain } from './domain.js'
import { cliAudit, type CliIo } from './io.js'

export async function keys (command: string, args: string[], io: CliIo): Promise<void> {
  noArgs(args, `keys ${command}`)
  await withDomain(io, async ({ keys: ring }) => {
    await ring.refresh()
    if (command === 'rotate') {
      const key = await ring.rotate()
      cliAudit(io).record('key_rotated', { kid: key.kid, activatesAt: new Date(key.activatesAt).toISOString(), actor: 'cli' })
      io.stdout.write(`new key ${key.kid} (${key.alg}) published now, signing from ${new Date(key.activatesAt).toISOString()}\n`)
    }
    for (const k of ring.states()) {
      io.stdout.write(`${k.kid}\t${k.alg}\t${k.state}\tactivates ${new Date(k.activatesAt).toISOString()}` +
        (k.retiresAt ? `\tretires ${new Date(k.retiresAt).toISOString()}` : '') + '\n')
    }
  })
}
