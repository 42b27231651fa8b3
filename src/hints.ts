import { Redis } from 'ioredis'
import pg from 'pg'
import { CHANGE_CHANNEL } from './store/dialect.js'

// Hints that the change log has news, between the processes of one deployment. A hint carries nothing
// but "look": a process that gets one reads the log from the store (ChangeFollower). So hints can be
// late, lost, repeated or forged without changing what anybody believes; at worst a process reads sooner,
// or later (by its polling interval).
export interface Hints {
  // Calls `look` for every hint, and when a lost connection is back (hints may have been missed meanwhile:
  // whatever they said is in the store's change log).
  start (look: () => void): void
  // Tells the others to look (after a change was committed). Never throws, never waits for the network.
  publish (): void
  close (): Promise<void>
}

export type HintReport = (level: 'info' | 'warn', message: string) => void

// Connection losses and returns are reported at most once a minute: someone who can make Redis drop our
// subscription over and over (a message larger than its pub/sub buffer limit) must not fill the logs.
const REPORT_EVERY_MS = 60_000
export function throttled (report: HintReport): HintReport {
  let last = -Infinity
  let suppressed = 0
  return (level, message) => {
    const now = Date.now()
    if (now - last < REPORT_EVERY_MS) { suppressed++; return }
    last = now
    report(level, suppressed > 0 ? `${message} (${suppressed} similar lines suppressed in the last minute)` : message)
    suppressed = 0
  }
}

// Redis pub/sub on `<REDIS_PREFIX>changes`. Two connections: one subscribed, one to publish on. The
// connection is retried forever (ioredis's back-off); while it is down, the `fallback` hints (PostgreSQL's
// LISTEN, when the store is PostgreSQL) are listened to instead, and polling goes on in any case.
export class RedisHints implements Hints {
  readonly #subscriber: Redis
  readonly #publisher: Redis
  readonly #channel: string
  readonly #reportLost: HintReport
  readonly #reportBack: HintReport
  readonly #reportError: HintReport
  readonly #fallback?: () => Hints
  #fallbackRunning?: Hints
  #lost = false
  #lastError = ''

  constructor (url: string, prefix: string, report: HintReport, fallback?: () => Hints) {
    this.#channel = `${prefix}changes`
    this.#reportLost = throttled(report)
    this.#reportBack = throttled(report)
    this.#reportError = throttled(report)
    this.#fallback = fallback
    const options = {
      lazyConnect: true,
      connectionName: 'auth-service',
      // Commands fail at once while disconnected rather than queueing (a publish is a hint: polling covers it).
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: 5000,
      retryStrategy: (times: number) => Math.min(times * 200, 2000)
    }
    this.#subscriber = new Redis(url, { ...options, enableOfflineQueue: true, maxRetriesPerRequest: null })
    this.#publisher = new Redis(url, options)
    for (const client of [this.#subscriber, this.#publisher]) client.on('error', (err: Error) => this.#error(err))
  }

  start (look: () => void): void {
    const subscriber = this.#subscriber
    subscriber.on('message', (channel: string) => { if (channel === this.#channel) look() })
    subscriber.on('close', () => {
      if (this.#lost) return
      this.#lost = true
      this.#reportLost('warn', `no connection to Redis: following changes through ${this.#fallback ? 'PostgreSQL\'s LISTEN' : 'polling'} until it is back`)
      if (this.#fallback && !this.#fallbackRunning) {
        this.#fallbackRunning = this.#fallback()
        this.#fallbackRunning.start(look)
      }
    })
    // ioredis subscribes again on reconnection; the changes of the gap are read from the store.
    subscriber.on('ready', () => {
      if (!this.#lost) return
      this.#lost = false
      this.#lastError = ''
      this.#reportBack('info', 'connected to Redis again: catching up from the store')
      look()
      const fallback = this.#fallbackRunning
      this.#fallbackRunning = undefined
      fallback?.close().catch(() => {})
    })
    // Subscribed whether or not the first connection succeeds: the command waits in ioredis's queue until a
    // connection is ready, and ioredis subscribes again after every reconnection. (Subscribing only once
    // connect() had resolved left an instance that started while Redis was unreachable, or lost it during
    // the first handshake, never subscribed: found by the Redis-cut test.)
    subscriber.connect().catch((err: Error) => this.#error(err))
    subscriber.subscribe(this.#channel).catch((err: Error) => this.#error(err))
    this.#publisher.connect().catch((err: Error) => this.#error(err))
  }

  publish (): void {
    this.#publisher.publish(this.#channel, '').catch((err: Error) => this.#error(err))
  }

  async close (): Promise<void> {
    this.#subscriber.disconnect()
    this.#publisher.disconnect()
    await this.#fallbackRunning?.close()
  }

  // The same error over and over (a reconnect loop) is reported once until something changes.
  #error (err: Error): void {
    if (err.message === this.#lastError) return
    this.#lastError = err.message
    this.#reportError('warn', `Redis: ${err.message}`)
  }
}

// PostgreSQL's LISTEN on a connection of its own (pg_notify is sent by the transaction that records the
// change, delivered when it commits: the CLI's changes too). Reconnects with a back-off after a loss.
export class PostgresHints implements Hints {
  readonly #url: string
  readonly #report: HintReport
  #client?: pg.Client
  #closed = false
  #timer?: NodeJS.Timeout
  #lost = false

  constructor (url: string, report: HintReport) {
    this.#url = url
    this.#report = throttled(report)
  }

  start (look: () => void): void {
    const connect = async (delayMs: number) => {
      if (this.#closed) return
      const client = new pg.Client({ connectionString: this.#url, connectionTimeoutMillis: 5000, keepAlive: true, application_name: 'auth-service-listen' })
      const retry = (err: Error) => {
        if (this.#closed || this.#client !== client) return
        if (!this.#lost) this.#report('warn', `lost the LISTEN connection to PostgreSQL (${err.message}): following changes by polling until it is back`)
        this.#lost = true
        this.#client = undefined
        client.end().catch(() => {})
        const next = Math.min(delayMs * 2, 5000)
        this.#timer = setTimeout(() => { connect(next).catch(() => {}) }, delayMs)
        this.#timer.unref()
      }
      this.#client = client
      client.on('error', retry)
      client.on('end', () => retry(new Error('connection ended')))
      client.on('notification', (message) => { if (message.channel === CHANGE_CHANNEL) look() })
      try {
        await client.connect()
        await client.query(`LISTEN ${CHANGE_CHANNEL}`)
      } catch (err) {
        retry(err as Error)
        return
      }
      // Listening from now on: whatever was committed before is read from the store.
      if (this.#lost) this.#report('info', 'listening to PostgreSQL again: catching up from the store')
      this.#lost = false
      look()
    }
    connect(250).catch(() => {})
  }

  publish (): void {} // NOTIFY goes out with the transaction itself

  async close (): Promise<void> {
    this.#closed = true
    clearTimeout(this.#timer)
    const client = this.#client
    this.#client = undefined
    await client?.end().catch(() => {})
  }
}

// One hint, from a program that runs once (the CLI) after it changed something. Best effort: if Redis
// cannot be reached in a few seconds, the instances see the change at their next poll.
export async function publishOnce (url: string, prefix: string): Promise<void> {
  const client = new Redis(url, { lazyConnect: true, connectTimeout: 3000, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null })
  client.on('error', () => {})
  try {
    await client.connect()
    await client.publish(`${prefix}changes`, '')
  } finally {
    client.disconnect()
  }
}
