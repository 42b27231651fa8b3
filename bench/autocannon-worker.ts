// The fallback load generator where wrk is not installed: autocannon in a process of its own (so it can be
// pinned to its own core), rotating through the given lines like bench/wrk.lua. Prints the same JSON.
import autocannon from 'autocannon'
import { readFileSync } from 'node:fs'

const [url, kind, file, connections, seconds] = process.argv.slice(2)
const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean)
let i = Math.floor(Math.random() * lines.length)

const result = await autocannon({
  url,
  connections: Number(connections),
  duration: Number(seconds),
  requests: [{
    setupRequest (req) {
      i = (i + 1) % lines.length
      if (kind === 'bearer') return { ...req, method: 'GET', headers: { authorization: `Bearer ${lines[i]}` } }
      return { ...req, method: 'POST', headers: { 'content-type': 'application/json' }, body: lines[i] }
    }
  }]
})
process.stdout.write(JSON.stringify({
  requests: result.requests.total,
  durationUs: result.duration * 1e6,
  non2xx: result.non2xx,
  errors: result.errors + result.timeouts,
  p50Us: result.latency.p50 * 1000,
  p99Us: result.latency.p99 * 1000
}) + '\n')
