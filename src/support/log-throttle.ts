// Log lines about something that can repeat quickly (a dependency lost, a Redis command refused, a failed
// poll) are written at most once a minute: someone who can make it repeat (a Redis that drops our
// subscription over and over, an outage that breaks every pooled connection at once) must not fill the
// logs. Timed on the monotonic clock.
const REPORT_EVERY_MS = 60_000

// `report` is called at most once a minute, told how many calls it missed since it last ran.
export function onceAMinute<A extends unknown[]> (report: (suppressed: number, ...args: A) => void): (...args: A) => void {
  let last = -Infinity
  let suppressed = 0
  return (...args) => {
    const now = performance.now()
    if (now - last < REPORT_EVERY_MS) { suppressed++; return }
    last = now
    report(suppressed, ...args)
    suppressed = 0
  }
}

export type LevelReport = (level: 'info' | 'warn', message: string) => void

// A log line at most once a minute, saying how many similar ones were left out.
export function throttled (report: LevelReport): LevelReport {
  return onceAMinute((suppressed, level: 'info' | 'warn', message: string) =>
    report(level, suppressed > 0 ? `${message} (${suppressed} similar lines suppressed in the last minute)` : message))
}
