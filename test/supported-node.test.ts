// The Node.js the service runs on: the suite itself runs on the version development and CI pin (.nvmrc, the
// node npm installs from scripts/pinned-node), and a start on an unsupported Node (the system's Node 20,
// /usr/bin/node on the machines we develop on: a real binary, not a faked version number) ends with one
// fatal line and exit 1 before any native module is loaded (better-sqlite3 13 crashes Node 20 with SIGSEGV).
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm, symlink } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { promisify } from 'node:util'
import t, { type Test } from 'tap'
import { NODE_FLOOR, unsupportedNode } from '../src/support/supported-node.js'
import { exitWithin, freePort, npmStartCommand, startLikeNpm, testEnv, type Env } from './support/index.js'

const root = join(import.meta.dirname, '..')
const SYSTEM_NODE = '/usr/bin/node'
const tracer = join(import.meta.dirname, 'fixtures', 'trace-native-modules.cjs')
const json = async (path: string) => JSON.parse(await readFile(join(root, path), 'utf8'))

t.test('the suite runs on the pinned Node.js; engines, .nvmrc and the pinned package agree', async (t) => {
  const pinned = (await readFile(join(root, '.nvmrc'), 'utf8')).trim()
  const pkg = await json('package.json')
  const runtime = await json('scripts/pinned-node/package.json')
  t.comment(`tests run on Node.js ${process.version} (${process.execPath}); pinned: ${pinned}`)
  t.equal(pkg.engines.node, `>=${NODE_FLOOR}`, 'engines says the floor the start check enforces')
  t.equal(pkg.devDependencies['auth-service-pinned-node'], 'file:scripts/pinned-node', 'the pinned Node is a dev dependency')
  t.equal(runtime.version, pinned, 'the pinned package is named for the version in .nvmrc')
  for (const [name, version] of Object.entries(runtime.optionalDependencies as Record<string, string>)) {
    t.equal(version, pinned, `${name} at exactly the .nvmrc version`)
  }
  t.ok(Number(pinned.split('.')[0]) >= NODE_FLOOR, 'the pinned version is a supported one')
  const build = `node-${process.platform}-${process.arch}`
  if (build in runtime.optionalDependencies) {
    t.equal(process.versions.node, pinned, `on ${process.platform}-${process.arch}, npm test runs on the pinned ${pinned}`)
    t.equal(process.execPath, join(root, 'node_modules', build, 'bin', 'node'), 'the node npm installed, found first by npm scripts')
  } else {
    t.equal(unsupportedNode(process.versions.node), undefined, `no pinned build for ${build}: the Node on PATH (${process.version}) is a supported one`)
  }
})

t.test('the floor: 24 and later run, anything older is refused with the versions named', async (t) => {
  for (const version of ['24.0.0', '24.22.3', '26.12.1', '28.0.0']) t.equal(unsupportedNode(version), undefined, `${version} runs`)
  for (const version of ['20.20.2', '22.22.0', '23.11.1', '18.0.0', '']) {
    t.match(unsupportedNode(version), /is not supported: auth-service runs on Node\.js 24 or later \(the LTS lines 24 and 26\)/, `${version || '(empty)'} is refused`)
  }
})

// The system's Node, when it is an unsupported one; the machines this is developed on have Node 20 there.
async function systemNode (): Promise<string | undefined> {
  if (!existsSync(SYSTEM_NODE)) return undefined
  return (await promisify(execFile)(SYSTEM_NODE, ['-p', 'process.versions.node'])).stdout.trim()
}

// `npm start`'s own command line (without its build step), through sh, with `node` on PATH being `nodeBinary`
// (fastify's bin is `#!/usr/bin/env node`, so fastify-cli runs on it too), the native-module tracer preloaded.
async function startOn (t: Test, nodeBinary: string, extra: Env = {}) {
  // Not in t.testdir(): testEnv() below makes that again, empty.
  const bin = await mkdtemp(join(tmpdir(), 'auth-node-'))
  t.teardown(() => rm(bin, { recursive: true, force: true }))
  await symlink(nodeBinary, join(bin, 'node'))
  const log = join(bin, 'native-modules.log')
  const port = await freePort()
  const service = startLikeNpm(await npmStartCommand(), testEnv(t, {
    PATH: `${bin}:${join(root, 'node_modules', '.bin')}:/usr/bin:/bin`,
    PORT: String(port),
    FASTIFY_ADDRESS: '127.0.0.1',
    NODE_OPTIONS: `--require ${tracer}`,
    NATIVE_MODULES_LOG: log,
    ...extra
  }))
  t.teardown(() => { try { process.kill(-service.child.pid!, 'SIGKILL') } catch {} })
  const loaded = async () => existsSync(log) ? (await readFile(log, 'utf8')).split('\n').filter(Boolean) : []
  return { service, port, loaded }
}

t.test('npm start\'s command on the system\'s Node 20: one fatal line naming the supported versions, exit 1, no native module loaded', async (t) => {
  const version = await systemNode()
  if (version === undefined || unsupportedNode(version) === undefined) {
    t.fail(`${SYSTEM_NODE} is ${version ?? 'missing'}: this test needs an unsupported Node.js there (the machines' system Node 20)`)
    return
  }
  const { service, port, loaded } = await startOn(t, SYSTEM_NODE)
  let stdout = ''
  let stderr = ''
  service.child.stdout!.on('data', (d) => { stdout += d })
  service.child.stderr!.on('data', (d) => { stderr += d })
  const signal = new Promise<NodeJS.Signals | null>((resolve) => service.child.on('exit', (_code, signal) => resolve(signal)))
  // Bounded: should the service start instead (the check gone), fail here and let the teardown end it.
  const code = await exitWithin(service)
  if (code === 'running') {
    t.fail(`still running after 20 s: the service started on Node ${version} (${service.output().slice(-500)})`)
    return
  }
  t.equal(code, 1, 'exit code 1')
  t.equal(await signal, null, 'not a signal: no crash')
  const lines = stderr.split('\n').filter(Boolean)
  t.equal(lines.length, 1, `one line on stderr (${stderr})`)
  t.match(lines[0], new RegExp(`^fatal: Node\\.js ${version.replaceAll('.', '\\.')} is not supported: auth-service runs on Node\\.js 24 or later \\(the LTS lines 24 and 26\\)`))
  t.equal(stdout, '', 'nothing on stdout: no log line, no stack')
  t.same(await loaded(), [], 'no native module was loaded')
  await t.rejects(fetch(`http://127.0.0.1:${port}/health/live`), 'nothing listens')
})

t.test('the CLI on the system\'s Node 20: the same line, exit 1, no native module loaded', async (t) => {
  const version = await systemNode()
  if (version === undefined || unsupportedNode(version) === undefined) {
    t.fail(`${SYSTEM_NODE} is ${version ?? 'missing'}: this test needs an unsupported Node.js there`)
    return
  }
  const env = testEnv(t)
  const log = join(t.testdirName, 'native-modules.log')
  const run = await promisify(execFile)(SYSTEM_NODE, ['--require', tracer, join(root, 'dist', 'src', 'cli', 'main.js'), 'users', 'list'], {
    env: { ...env, PATH: '/usr/bin:/bin', NATIVE_MODULES_LOG: log }
  }).then(() => ({ code: 0, stderr: '', stdout: '' }), (err: { code: number, stderr: string, stdout: string }) => err)
  t.equal(run.code, 1, 'exit code 1')
  t.match(run.stderr, /^fatal: Node\.js 20\.\d+\.\d+ is not supported: auth-service runs on Node\.js 24 or later[^\n]*\n$/, 'one line')
  t.equal(run.stdout, '')
  t.notOk(existsSync(log), 'no native module was loaded')
})

t.test('the same command on the pinned Node starts, and the tracer sees the native modules load (the control)', async (t) => {
  const { service, port, loaded } = await startOn(t, process.execPath, { ADMIN_PASSWORD: 'control-run-password-31' })
  const deadline = Date.now() + 30_000
  for (;;) {
    if (service.child.exitCode !== null) throw new Error(`service exited: ${service.output()}`)
    try { if ((await fetch(`http://127.0.0.1:${port}/health/ready`)).ok) break } catch {}
    if (Date.now() > deadline) throw new Error(`not ready: ${service.output()}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  const modules = (await loaded()).map((path) => dirname(path).split('/node_modules/').pop())
  t.ok(modules.some((m) => m?.startsWith('@node-rs/argon2')), `argon2's binary loaded (${modules.join(', ')})`)
  t.ok(modules.some((m) => m?.startsWith('better-sqlite3')), 'better-sqlite3\'s binary loaded')
  const ready = service.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l)).find((l) => /^ready/.test(l.msg))
  t.equal(ready?.node, process.version, 'the ready line names the Node.js it runs on')
  process.kill(-service.child.pid!, 'SIGTERM')
  t.equal(await service.exited, 0, 'SIGTERM: exit 0')
})

t.test('npm scripts on another Node than the pinned one (npm skipped the pinned Node: a failed optional dependency) say so', async (t) => {
  const ensure = join(root, 'scripts', 'ensure-built.mjs')
  const run = (node: string) => promisify(execFile)(node, [ensure, '--check']).then((r) => r.stderr, (err: { stderr: string }) => err.stderr)
  t.match(await run(SYSTEM_NODE), /^ensure-built: warning: npm scripts run on Node\.js 20\.\d+\.\d+, not the pinned \d+\.\d+\.\d+: it did not install/m, 'on the system\'s Node: a warning')
  t.notMatch(await run(process.execPath), /warning/, 'on the pinned Node: none')
})
