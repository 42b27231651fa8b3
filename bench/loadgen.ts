import { spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { LOAD_CPU, runJson } from './processes.js'

// wrk where installed (it drives a server harder than autocannon can from one core), autocannon otherwise.
export const tool: 'wrk' | 'autocannon' = spawnSync('wrk', ['-v']).error === undefined ? 'wrk' : 'autocannon'

export interface LoadResult { requests: number, rps: number, p50Ms: number, p99Ms: number, non2xx: number, errors: number }

export interface Load {
  url: string // http://127.0.0.1:port/path
  kind: 'bearer' | 'json' // lines are tokens for GET, or JSON bodies for POST
  linesFile: string
  connections: number
  seconds: number
}

const sourceDir = join(import.meta.dirname, '..', '..', 'bench')

export function writeLines (dir: string, name: string, lines: string[]): string {
  const file = join(dir, name)
  writeFileSync(file, lines.join('\n') + '\n')
  return file
}

export async function runLoad (load: Load): Promise<LoadResult> {
  type Raw = { requests: number, durationUs: number, non2xx: number, errors: number, p50Us: number, p99Us: number }
  let raw: Raw
  if (tool === 'wrk') {
    const path = new URL(load.url).pathname
    raw = await runJson<Raw>(LOAD_CPU, 'wrk', ['-t1', `-c${load.connections}`, `-d${load.seconds}s`, '--latency',
      '-s', join(sourceDir, 'wrk.lua'), load.url, '--', load.kind, load.linesFile, path])
  } else {
    raw = await runJson<Raw>(LOAD_CPU, process.execPath, [join(import.meta.dirname, 'autocannon-worker.js'),
      load.url, load.kind, load.linesFile, String(load.connections), String(load.seconds)])
  }
  return {
    requests: raw.requests,
    rps: raw.requests / (raw.durationUs / 1e6),
    p50Ms: raw.p50Us / 1000,
    p99Ms: raw.p99Us / 1000,
    non2xx: raw.non2xx,
    errors: raw.errors
  }
}
