import { execFile } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import t from 'tap'
import { answering, freePort, startService } from './support/index.js'

// README's walkthrough, run as written against a zero-configuration start (the built service started by
// fastify-cli as npm start starts it, in an empty folder): its output must be what README shows.
function block (readme: string, marker: string): string {
  const start = readme.indexOf(marker)
  if (start < 0) throw new Error(`README has no ${marker}`)
  const fence = readme.indexOf('```', start)
  const body = readme.indexOf('\n', fence) + 1
  return readme.slice(body, readme.indexOf('```', body))
}

// README's expected output as a pattern: "…" is anything on that line.
function pattern (expected: string): RegExp {
  const lines = expected.trimEnd().split('\n').map((line) => line.split('…').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('[^\\n]*'))
  return new RegExp(`^${lines.join('\\n')}$`)
}

t.test('the README walkthrough, run as a script against a zero-config start, prints what README shows', async (t) => {
  const readme = await readFile(join(import.meta.dirname, '..', 'README.md'), 'utf8')
  const dir = t.testdir()
  const port = await freePort()
  const service = startService({}, port, dir) // no configuration at all: defaults, ./data in its folder
  t.teardown(() => { service.child.kill('SIGKILL') })
  await answering(`http://127.0.0.1:${port}/health/ready`, service)
  const script = block(readme, '<!-- walkthrough:script').replaceAll('localhost:3000', `127.0.0.1:${port}`)
  await writeFile(join(dir, 'walkthrough.sh'), script)
  const output = await new Promise<string>((resolve, reject) => {
    execFile('bash', ['-eo', 'pipefail', 'walkthrough.sh'], { cwd: dir, env: { PATH: process.env.PATH } }, (err, stdout, stderr) =>
      err ? reject(new Error(`${err.message}\n${stdout}\n${stderr}`)) : resolve(stdout))
  })
  t.match(output.trimEnd(), pattern(block(readme, '<!-- walkthrough:output')), `it printed:\n${output}`)
  t.notMatch(service.output(), await readFile(join(dir, 'data', 'admin-password.txt'), 'utf8').then((p) => p.trim()), 'the password never reached the log')
})
