import { join } from 'node:path'
import t from 'tap'
import { Readiness } from '../src/startup/readiness.js'
import { checkSequence, STARTUP_SEQUENCE, StartupSequenceError, type StartupStep } from '../src/startup/sequence.js'
import { build, buildWithLogs, testEnv } from './support/index.js'

// The start-up sequence is declared once (src/startup/sequence.ts) and checked: a step above one it
// follows, a step it names that does not exist, a step listed twice, a step a plugin registers that is not
// listed, and a listed step no plugin registers each stop the start with a line that says which.
const extraStepApp = join(import.meta.dirname, 'fixtures', 'extra-step-app.ts')
const names = (sequence: readonly StartupStep[]) => sequence.map((s) => s.name)
const moved = (name: string, to: number) => {
  const rest = STARTUP_SEQUENCE.filter((s) => s.name !== name)
  return [...rest.slice(0, to), STARTUP_SEQUENCE.find((s) => s.name === name)!, ...rest.slice(to)]
}

t.test('the declared sequence: store, keys, audit, bootstrap, sessions, change feed; each step after those it follows', async (t) => {
  t.same(names(STARTUP_SEQUENCE), ['store', 'keys', 'audit', 'bootstrap', 'sessions', 'change-feed'])
  t.doesNotThrow(() => checkSequence(STARTUP_SEQUENCE))
  for (const step of STARTUP_SEQUENCE) t.ok(step.does.length > 0, `${step.name} says what it does`)
})

t.test('a sequence out of order, naming an unknown step, or listing one twice is refused', async (t) => {
  t.throws(() => checkSequence(moved('keys', 0)), new StartupSequenceError('start-up step "keys" comes before "store", which it must follow'))
  t.throws(() => checkSequence(moved('store', 5)), { message: /^start-up step "keys" comes before "store", which it must follow$/ }, 'store moved last')
  t.throws(() => checkSequence(moved('bootstrap', 2)), { message: 'start-up step "bootstrap" comes before "audit", which it must follow' })
  t.throws(() => checkSequence([...STARTUP_SEQUENCE, { name: 'mail', after: ['store', 'queue'], does: 'sends mail' }]),
    { message: 'start-up step "mail" follows "queue", which is not a start-up step' })
  t.throws(() => checkSequence([...STARTUP_SEQUENCE, STARTUP_SEQUENCE[1]!]), { message: 'start-up step "keys" is listed twice' })
})

t.test('the service with its steps out of order does not start, and says which', async (t) => {
  const env = testEnv(t)
  await t.rejects(build(t, env, { startupSequence: moved('keys', 0) }), { message: 'start-up step "keys" comes before "store", which it must follow' })
  await t.rejects(build(t, env, { startupSequence: moved('change-feed', 3) }), { message: 'start-up step "change-feed" comes before "sessions", which it must follow' })
})

t.test('a step a plugin registers that the sequence does not list stops the start', async (t) => {
  await t.rejects(build(t, testEnv(t), { app: extraStepApp }),
    { message: 'unknown start-up step "mail": the sequence is store, keys, audit, bootstrap, sessions, change-feed (src/startup/sequence.ts)' })
})

t.test('a listed step that no plugin registers fails the start, which says which', async (t) => {
  const sequence = [...STARTUP_SEQUENCE, { name: 'mail', after: ['store'], does: 'sends the mail that is due' }]
  const { app, lines } = await buildWithLogs(t, testEnv(t), { ready: false, startupSequence: sequence })
  await t.rejects(app.readiness.whenReady(), { message: 'start-up step "mail" registered by no plugin' })
  t.notOk(app.readiness.started, 'not started')
  t.ok(lines.some((l) => l.includes('"start-up failed: start-up step \\"mail\\" registered by no plugin"')), 'one fatal line says so')
})

t.test('steps run in the sequence\'s order, whatever order they were registered in', async (t) => {
  const readiness = new Readiness()
  const ran: string[] = []
  for (const step of [...STARTUP_SEQUENCE].reverse()) readiness.step(step.name, async () => { ran.push(step.name) })
  await readiness.run(() => {})
  t.same(ran, names(STARTUP_SEQUENCE))
  t.ok(readiness.started)
  t.throws(() => readiness.step('store', async () => {}), { message: 'start-up step "store" added after start' })
})

t.test('a step registered twice is refused', async (t) => {
  const readiness = new Readiness()
  readiness.step('store', async () => {})
  t.throws(() => readiness.step('store', async () => {}), { message: 'start-up step "store" registered twice' })
})
