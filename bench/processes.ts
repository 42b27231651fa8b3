import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'

// Servers on one core, load generators on another, where the machine has two and taskset exists.
export const pinning = availableParallelism() >= 2 && spawnSync('taskset', ['-V']).status === 0
export const SERVER_CPU = '0'
export const LOAD_CPU = '1'

const children = new Set<ChildProcess>()

export function start (cpu: string, command: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  const [cmd, argv] = pinning ? ['taskset', ['-c', cpu, command, ...args]] : [command, args]
  const child = spawn(cmd, argv, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe', 'ipc'] })
  // Drained as a log collector would, keeping only the last 64 KB (for error messages): servers logging at
  // info write a line a request.
  let output = ''
  const keep = (d: Buffer) => { output = (output + d).slice(-65536) }
  child.stdout!.on('data', keep)
  child.stderr!.on('data', keep)
  ;(child as ChildProcess & { output: () => string }).output = () => output
  children.add(child)
  child.on('exit', () => children.delete(child))
  return child
}

export function outputOf (child: ChildProcess): string {
  return (child as ChildProcess & { output: () => string }).output()
}

// Runs to completion and returns stdout's last JSON line.
export async function runJson<T> (cpu: string, command: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<T> {
  const child = start(cpu, command, args, env)
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
  const line = outputOf(child).split('\n').reverse().find((l) => l.startsWith('{'))
  if (code !== 0 || line === undefined) throw new Error(`${command} ${args.join(' ')} failed (${code}): ${outputOf(child)}`)
  return JSON.parse(line) as T
}

export function stopAll (): void {
  for (const child of children) child.kill('SIGKILL')
}

export async function stop (child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return
  const exited = new Promise((resolve) => child.on('exit', resolve))
  child.kill('SIGKILL')
  await exited
}

export function rssMegabytes (pid: number): number {
  const status = spawnSync('cat', [`/proc/${pid}/status`]).stdout.toString()
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1])
  return kb / 1024
}

// Seconds of CPU (user + system) a process has used so far, from /proc/PID/stat (fields 14 and 15, in clock
// ticks; the command name in field 2 may hold spaces, so fields are counted after its closing parenthesis).
const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK']).stdout?.toString().trim()) || 100
export function cpuSeconds (pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS
}
