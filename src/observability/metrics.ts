import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client'
import { AUDIT_EVENTS, type AuditRecord } from './audit.js'

// The service's metrics in Prometheus's text format (docs/operations.md, "Metrics"). Everything that happens on the
// hot path is a plain integer the service keeps anyway, read when Prometheus scrapes (prom-client's
// `collect` callbacks); a request costs one histogram observation; security events are counted where they
// are recorded, once (the audit record); the live-session count is asked of the store at scrape time, at
// most once every LIVE_SESSIONS_CACHE_MS and never for longer than LIVE_SESSIONS_TIMEOUT_MS.
const METRICS_PREFIX = 'auth_service_'
export const METRICS_CONTENT_TYPE = Registry.PROMETHEUS_CONTENT_TYPE
const LIVE_SESSIONS_CACHE_MS = 10_000
const LIVE_SESSIONS_TIMEOUT_MS = 2_000
// Request durations, seconds: GET / answers in well under a millisecond, a login takes tens of ms to a
// second (argon2 and its queue).
export const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
// The route label of a request that matched no route (404s for unknown URLs): never the raw URL.
const UNMATCHED_ROUTE = 'unmatched'

export interface MetricSources {
  // The verified-token cache (src/tokens/access-tokens.ts AccessTokenVerifier): counts kept as plain integers.
  tokenCache: { readonly cacheHits: number, readonly cacheMisses: number, readonly cacheSize: number }
  // The hashing queue (src/passwords/hasher.ts PasswordHasher).
  hasher: { readonly running: number, readonly queued: number }
  // Sessions live in the whole store now; asked only once `started()` (the store is migrated).
  liveSessions: () => Promise<number>
  started: () => boolean
  now: () => number // the service's clock (epoch ms): the live-session count's cache
  warn: (message: string) => void
}

// Default process metrics (CPU, memory, heap, event-loop lag, GC, handles…) belong to the process, not to
// an app: made once a process (several apps in one process, as in the tests, share them), so that no
// event-loop monitor or GC observer is added per app.
let processRegistry: Registry | undefined
function processMetrics (): Registry {
  if (processRegistry === undefined) {
    processRegistry = new Registry()
    collectDefaultMetrics({ register: processRegistry, prefix: METRICS_PREFIX })
  }
  return processRegistry
}

// A gauge whose one series is left out of the scrape when its value could not be had (the store down),
// rather than reported as 0: `absent()` and staleness then say so in Prometheus.
class OptionalGauge extends Gauge {
  #read: () => Promise<number | undefined>
  constructor (config: { name: string, help: string, registers: Registry[] }, read: () => Promise<number | undefined>) {
    super(config)
    this.#read = read
  }

  override async get () {
    const value = await this.#read()
    const metric = await super.get()
    return { ...metric, values: value === undefined ? [] : [{ value, labels: {} }] }
  }
}

// The request-duration histogram, observed once a request. prom-client's own observe() costs 0.6 to 2 µs
// (it validates and hashes the labels on every call; measured, docs/operations.md, "Metrics"), a few per cent of a
// GET / that takes 100 µs; here a request finds its series by three Map look-ups without building a
// string, and adds to plain numbers. prom-client still writes the text: get() gives it the same values its
// Histogram would.
interface DurationSeries { labels: Record<string, string>, buckets: Float64Array, sum: number, count: number }

export class RequestDurations extends Histogram<'method' | 'route' | 'status_code'> {
  readonly #bounds: readonly number[]
  readonly #name: string
  readonly #help: string
  // route pattern (undefined: none matched) → status code → method → series
  readonly #series = new Map<string | undefined, Map<number, Map<string, DurationSeries>>>()

  constructor (name: string, registers: Registry[]) {
    const help = 'Time to answer a request, seconds, by method, route pattern and status code'
    super({ name, help, labelNames: ['method', 'route', 'status_code'], buckets: DURATION_BUCKETS, registers })
    this.#bounds = DURATION_BUCKETS
    this.#name = name
    this.#help = help
  }

  record (method: string, route: string | undefined, statusCode: number, seconds: number): void {
    let byStatus = this.#series.get(route)
    if (byStatus === undefined) this.#series.set(route, byStatus = new Map())
    let byMethod = byStatus.get(statusCode)
    if (byMethod === undefined) byStatus.set(statusCode, byMethod = new Map())
    let series = byMethod.get(method)
    if (series === undefined) {
      series = { labels: { method, route: route ?? UNMATCHED_ROUTE, status_code: String(statusCode) }, buckets: new Float64Array(this.#bounds.length), sum: 0, count: 0 }
      byMethod.set(method, series)
    }
    const bounds = this.#bounds
    let i = 0
    while (i < bounds.length && seconds > bounds[i]) i++ // the first bucket whose upper bound (le) holds it
    if (i < bounds.length) series.buckets[i]++
    series.sum += seconds
    series.count++
  }

  // What prom-client's Histogram gives its registry to write (and its get() splays): bucket values labelled
  // `le`, the series' labels shared.
  async getForPromString () {
    const name = this.#name
    const values: Array<{ labels: Record<string, string | number>, sharedLabels: Record<string, string>, value: number, metricName: string }> = []
    for (const byStatus of this.#series.values()) {
      for (const byMethod of byStatus.values()) {
        for (const series of byMethod.values()) {
          const sharedLabels = series.labels
          let cumulative = 0
          this.#bounds.forEach((le, i) => {
            cumulative += series.buckets[i]
            values.push({ labels: { le }, sharedLabels, value: cumulative, metricName: `${name}_bucket` })
          })
          values.push({ labels: { le: '+Inf' }, sharedLabels, value: series.count, metricName: `${name}_bucket` })
          values.push({ labels: {}, sharedLabels, value: series.sum, metricName: `${name}_sum` })
          values.push({ labels: {}, sharedLabels, value: series.count, metricName: `${name}_count` })
        }
      }
    }
    return { name, help: this.#help, type: 'histogram', values, aggregator: 'sum' }
  }
}

export class ServiceMetrics {
  readonly registry = new Registry()
  readonly #sources: MetricSources
  readonly #requestDuration: RequestDurations
  readonly #logins: Counter<'outcome'>
  readonly #refreshes: Counter
  readonly #reuse: Counter
  readonly #rateLimited: Counter<'route'>
  readonly #auditEvents: Counter<'event'>
  #live?: { value: number, at: number }
  #livePending?: Promise<number | undefined>

  constructor (sources: MetricSources) {
    this.#sources = sources
    const registers = [this.registry]
    const name = (suffix: string) => METRICS_PREFIX + suffix
    this.#requestDuration = new RequestDurations(name('http_request_duration_seconds'), registers)
    this.#logins = new Counter({ name: name('logins_total'), help: 'Logins (POST /login), by outcome: succeeded, failed (wrong password, unknown user, disabled), throttled (the per-account login throttle)', labelNames: ['outcome'], registers })
    for (const outcome of ['succeeded', 'failed', 'throttled']) this.#logins.inc({ outcome }, 0)
    this.#refreshes = new Counter({ name: name('token_refreshes_total'), help: 'Refresh tokens exchanged for new tokens', registers })
    this.#reuse = new Counter({ name: name('refresh_token_reuse_total'), help: 'Spent refresh tokens presented again (each revoked its session)', registers })
    this.#rateLimited = new Counter({ name: name('rate_limited_total'), help: 'Requests refused by a per-address rate limit, by route pattern', labelNames: ['route'], registers })
    this.#auditEvents = new Counter({ name: name('audit_events_total'), help: 'Audit events recorded, by event', labelNames: ['event'], registers })
    for (const event of AUDIT_EVENTS) this.#auditEvents.inc({ event }, 0)

    const cache = sources.tokenCache
    monotonic(name('token_cache_hits_total'), 'Access-token verifications answered from the verified-token cache', () => cache.cacheHits, registers)
    monotonic(name('token_cache_misses_total'), 'Access-token verifications not found in the verified-token cache (verified, or refused)', () => cache.cacheMisses, registers)
    reading(name('token_cache_entries'), 'Tokens in the verified-token cache', () => cache.cacheSize, registers)
    const hasher = sources.hasher
    reading(name('hash_queue_waiting'), 'Password hashes (logins, password changes) waiting for a hashing slot', () => hasher.queued, registers)
    reading(name('hashes_running'), 'Password hashes running now', () => hasher.running, registers)
    // eslint-disable-next-line no-new
    new OptionalGauge({
      name: name('sessions_live'),
      help: 'Sessions live in the store (not revoked, not expired), all instances together; at most 10 s old; absent while the store cannot answer',
      registers
    }, () => this.#liveSessions())
  }

  // One request answered: `route` is the route's pattern (undefined when none matched), never the URL.
  observeRequest (method: string, route: string | undefined, statusCode: number, seconds: number): void {
    this.#requestDuration.record(method, route, statusCode, seconds)
  }

  // Every audit record (src/observability/audit.ts Audit.observe): the security events are counted here, once.
  record (record: AuditRecord): void {
    this.#auditEvents.inc({ event: record.event })
    switch (record.event) {
      case 'login_succeeded': this.#logins.inc({ outcome: 'succeeded' }); break
      // PUT /me/password's wrong current password is recorded as login_failed too; it is not a login.
      case 'login_failed': if (record.reason !== 'wrong_current_password') this.#logins.inc({ outcome: 'failed' }); break
      case 'login_throttled': this.#logins.inc({ outcome: 'throttled' }); break
      case 'token_refreshed': this.#refreshes.inc(); break
      case 'refresh_reuse_detected': this.#reuse.inc(); break
      case 'rate_limited': this.#rateLimited.inc({ route: typeof record.route === 'string' ? record.route : UNMATCHED_ROUTE }); break
    }
  }

  // The text Prometheus scrapes: the process's metrics, then the service's.
  async exposition (): Promise<string> {
    const [process, service] = await Promise.all([processMetrics().metrics(), this.registry.metrics()])
    // prom-client writes NaN (an event-loop mean before its first sample) as "Nan"; the format says "NaN".
    return (process + service).replace(/ Nan$/gm, ' NaN')
  }

  // The store's count, at most LIVE_SESSIONS_CACHE_MS old; one query at a time (scrapes that arrive
  // while it runs wait for it); undefined if the store failed or did not answer within
  // LIVE_SESSIONS_TIMEOUT_MS (the query is left to end on its own, bounded by the store's timeouts).
  async #liveSessions (): Promise<number | undefined> {
    const now = this.#sources.now()
    if (this.#live !== undefined && now - this.#live.at < LIVE_SESSIONS_CACHE_MS) return this.#live.value
    if (!this.#sources.started()) return undefined
    this.#livePending ??= this.#sources.liveSessions().then((value) => {
      this.#live = { value, at: now }
      return value
    }, (err: Error) => {
      this.#sources.warn(`metrics: the live-session count is left out: the store did not answer (${err.message})`)
      return undefined
    }).finally(() => { this.#livePending = undefined })
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<undefined>((resolve) => { timer = setTimeout(() => resolve(undefined), LIVE_SESSIONS_TIMEOUT_MS) })
    try {
      const value = await Promise.race([this.#livePending, timeout])
      if (value === undefined && this.#livePending !== undefined) {
        this.#sources.warn(`metrics: the live-session count is left out: the store took more than ${LIVE_SESSIONS_TIMEOUT_MS / 1000} s`)
      }
      return value
    } finally {
      clearTimeout(timer)
    }
  }
}

// A counter whose value is an integer kept elsewhere, read at scrape time.
function monotonic (name: string, help: string, read: () => number, registers: Registry[]): Counter {
  let seen = 0
  return new Counter({
    name,
    help,
    registers,
    collect () {
      const value = read()
      this.inc(Math.max(0, value - seen))
      seen = Math.max(seen, value)
    }
  })
}

function reading (name: string, help: string, read: () => number, registers: Registry[]): Gauge {
  return new Gauge({ name, help, registers, collect () { this.set(read()) } })
}
