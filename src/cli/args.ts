// A mistake in the command line: exit code 2, with the usage of the command it concerns.
export class UsageError extends Error {
  usage?: string
  constructor (message: string, usage?: string) {
    super(message)
    this.usage = usage
  }
}

export function oneName (args: string[], command: string): string {
  if (args.length === 0) throw new UsageError(`users ${command} needs a user name`)
  if (args.length > 1 || args[0].startsWith('-')) {
    throw new UsageError(`users ${command} takes only a user name: passwords are never read from the command line; ` +
      'type it at the prompt or pipe it on stdin')
  }
  return args[0]
}

export function noArgs (args: string[], command: string): void {
  if (args.length > 0) throw new UsageError(`${command} takes no arguments`)
}
