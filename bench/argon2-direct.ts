// Baseline 3: argon2id verify with the service's parameters, called directly, `concurrency` at a time,
// for `seconds`. Prints {"ops": n, "seconds": s}.
import { hash, verify } from '@node-rs/argon2'

const [concurrency, seconds, memoryCost, timeCost, parallelism] = process.argv.slice(2).map(Number)
const password = 'bench-password-0'
const stored = await hash(password, { algorithm: 2, memoryCost, timeCost, parallelism })
let ops = 0
const start = performance.now()
const deadline = start + seconds * 1000
await Promise.all(Array.from({ length: concurrency }, async () => {
  while (performance.now() < deadline) {
    if (!await verify(stored, password)) throw new Error('verify failed')
    ops++
  }
}))
process.stdout.write(JSON.stringify({ ops, seconds: (performance.now() - start) / 1000 }) + '\n')
