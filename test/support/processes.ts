import { spawn, type ChildProcess } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { basename, dirname, join } from 'node:path'
import type { Env } from './env.js'

// Processes: the built service started as `npm start` starts it, the built CLI, and what waits for them.
// Shared with the bench (bench/service.ts): nothing here needs tap.
// test/support/ in the source tree; dist/test/support/ when the bench runs it from the build.
const above = join(import.meta.dirname, '..', '..')
const root = basename(above) === 'dist' ? dirname(above) : above
const fastifyCli = join(root, 'node_modules', 'fastify-cli', 'cli.js')
const builtApp = join(root, 'dist', 'src', 'app.js')

// fastify-cli's arguments for the built service as `npm start` runs it: -o (the app's server options),
// a log level, on 127.0.0.1 at `port`.
export function fastifyStartArgs ({ port, level = 'info', withOptions = true, extraArgs = [] }: { port: number, level?: string, withOptions?: boolean, extraArgs?: string[] }): string[] {
  return [fastifyCli, 'start', ...(withOptions ? ['-o'] : []), '-l', level, '-a', '127.0.0.1', '-p', String(port), ...extraArgs, builtApp]
}

// A free loopback port for a server a test or the bench starts.
export function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number }
      srv.close(() => resolve(port))
    }).on('error', reject)
  })
}

// Until `url` answers with a status `ok` accepts; an error with the process's output if it exits first or
// does not answer within 30 s.
export async function waitForHttp (url: string, child: ChildProcess, ok: (status: number) => boolean, output: () => string): Promise<void> {
  const deadline = Date.now() + 30_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`server exited: ${output()}`)
    try {
      if (ok((await fetch(url)).status)) return
    } catch {}
    if (Date.now() > deadline) throw new Error(`server did not answer: ${output()}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

// The built CLI, as `npm run cli` and the package's bin run it (`npm test` builds before testing).
const cliPath = join(root, 'dist', 'src', 'cli', 'main.js')

// A command still running after `killAfterMs` is killed (its code is then null).
export function cli (env: Env, args: string[], stdin = '', cwd?: string, killAfterMs?: number) {
  return new Promise<{ code: number | null, stdout: string, stderr: string }>((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], {
      env: { PATH: process.env.PATH, ...env },
      cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(killAfterMs !== undefined && { timeout: killAfterMs, killSignal: 'SIGKILL' as const })
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => { stdout += d })
    child.stderr.on('data', (d) => { stderr += d })
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
    child.stdin.end(stdin)
  })
}

export interface Service { child: ChildProcess, output: () => string, exited: Promise<number | null> }

function collect (child: ChildProcess): Service {
  let out = ''
  child.stdout!.on('data', (d) => { out += d })
  child.stderr!.on('data', (d) => { out += d })
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return { child, output: () => out, exited }
}

export function startService (env: Env, port: number, cwd = root, level = 'info', withOptions = true, extraArgs: string[] = []): Service {
  return collect(spawn(process.execPath, fastifyStartArgs({ port, level, withOptions, extraArgs }), {
    cwd, env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe']
  }))
}

// The service's exit code, or 'running' if it has not exited within `ms` (the timer does not keep the test
// process alive): a test expecting an exit fails instead of waiting for tap's timeout.
export function exitWithin (service: Service, ms = 20_000): Promise<number | null | 'running'> {
  return Promise.race([service.exited, new Promise<'running'>((resolve) => { setTimeout(() => resolve('running'), ms).unref() })])
}

// Until the service has logged that it listens.
export async function logsListening (service: Service): Promise<void> {
  const deadline = Date.now() + 20_000
  while (!service.output().includes('Server listening')) {
    if (service.child.exitCode !== null) throw new Error(`service exited: ${service.output()}`)
    if (Date.now() > deadline) throw new Error(`service did not start: ${service.output()}`)
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

// Until `url` answers 2xx.
export function answering (url: string, service: Service): Promise<void> {
  return waitForHttp(url, service.child, (status) => status >= 200 && status < 300, service.output)
}

// What `npm start` runs once dist/ is built: the script's own command line from package.json, through sh as
// npm runs it, without the build step (which, should a source be newer than the build, would rebuild dist/
// under the other tests; test/start.test.ts runs the whole script).
export async function npmStartCommand (): Promise<string> {
  const { scripts } = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }
  return scripts.start.replace(/^(npm run build|node scripts\/ensure-built\.mjs) && /, '')
}

// In a process group of its own, so that a test can end the whole group whatever the shell did.
export function startLikeNpm (command: string, env: Env): Service {
  return collect(spawn('sh', ['-c', command], { cwd: root, env: { PATH: `${join(root, 'node_modules', '.bin')}:${process.env.PATH}`, ...env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true }))
}
