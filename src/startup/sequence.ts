// The start-up sequence, declared here and nowhere else: what the service loads before it can answer
// truthfully, in the order it runs. Plugins register the work of a step by its name
// (`fastify.readiness.step(name, run)`); the order in which they register does not matter, this list does.
// `after` names the steps whose results a step uses (or whose errors must be said first), and
// checkSequence() refuses a list in which one of them does not come earlier: a step moved above what it
// uses, a name misspelt, a step listed twice. Readiness refuses a step that is not listed here, and a
// listed step that no plugin registered.
export interface StartupStep {
  readonly name: string
  readonly after: readonly string[]
  readonly does: string
}

export const STARTUP_SEQUENCE: readonly StartupStep[] = [
  { name: 'store', after: [], does: 'brings the store\'s schema up to date (plugins/services.ts)' },
  { name: 'keys', after: ['store'], does: 'loads the signing keys, making the first (plugins/key-upkeep.ts)' },
  // After keys: both read sealed secrets, and a wrong KEY_ENCRYPTION_KEY is named by the signing keys' step.
  { name: 'audit', after: ['store', 'keys'], does: 'loads the key that pseudonymizes usernames in audit records (plugins/audit.ts)' },
  { name: 'bootstrap', after: ['store', 'audit'], does: 'creates the first administrator when there is none, and audits it (plugins/bootstrap.ts)' },
  { name: 'sessions', after: ['store', 'keys'], does: 'loads the refresh tokens\' successor key and purges ended sessions (plugins/session-jobs.ts)' },
  { name: 'change-feed', after: ['store', 'keys', 'sessions'], does: 'loads the revocation list and follows the change log (plugins/change-log-follower.ts)' }
]

export class StartupSequenceError extends Error {}

// The problem with a sequence, or undefined when each step comes after every step it names.
function sequenceProblem (sequence: readonly StartupStep[]): string | undefined {
  const seen = new Set<string>()
  for (const step of sequence) {
    if (seen.has(step.name)) return `start-up step "${step.name}" is listed twice`
    for (const before of step.after) {
      if (!seen.has(before)) {
        return sequence.some((s) => s.name === before)
          ? `start-up step "${step.name}" comes before "${before}", which it must follow`
          : `start-up step "${step.name}" follows "${before}", which is not a start-up step`
      }
    }
    seen.add(step.name)
  }
  return undefined
}

export function checkSequence (sequence: readonly StartupStep[]): void {
  const problem = sequenceProblem(sequence)
  if (problem) throw new StartupSequenceError(problem)
}
