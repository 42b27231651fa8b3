import type { Redis } from 'ioredis'
import type { Client } from 'pg'
import { CHANGE_CHANNEL } from '../store/dialect.js'
import { throttled, type LevelReport } from '../support/log-throttle.js'

// Hints that the change log has news, between the processes of one deployment. A hint carries nothing
// but "look": a process that gets one reads the log from the store (ChangeLogFollower). So hints can be
// late, lost, repeated or forged without changing what anybody believes; at worst a process reads sooner,
// or later (by its polling interval).
interface Hints {
  // Calls `look` for every hint, and when a lost connection is back (hints may have been missed meanwhile:
  // whatever they said is in the store's change log).
  start (look: () => void): void
  // Tells the others to look (after a change was committed). Never throws, never waits for the network.
  publish (): void
  // What does not work now, for readiness: [] while every path carries hints. Never an address or a
  // driver's message (readiness answers anybody).
  degraded (): string[]
  // Why the service must not be ready (no path carries hints and polling is too slow to stand in), or
  // undefined.
  unready (): string | undefined
  close (): Promise<void>
}

// With every hint path down only polling brings the news; up to this interval that is still "soon" (the
// same bound as readiness's change-feed limit, max(5 s, …)); beyond it the instance is not ready.
const POLLING_ENOUGH_SECONDS = 5

export type HintReport = LevelReport

// Why a path carries no hints now: its server does not answer in time (a connection that hangs without
// closing, a listener that never replies), or it cannot be reached (refused, closed, rejected).
export type PathDown = 'stalled' | 'unreachable'

// One way hints travel (Redis pub/sub, PostgreSQL's LISTEN). It reports when it stops carrying hints
// (`lost`, with the driver's reason, for the log) and when it carries them again (`back`, after which it
// has called `look`).
export interface HintPath {
  readonly name: string
  readonly down: PathDown | undefined // undefined while it works, and while its first connection is made
  start (look: () => void, changed: (event: 'lost' | 'back', reason: string) => void): void
  publish (): void
  close (): Promise<void>
}

// Every path at once, each on its own: a hint that reaches a process by any of them makes it look. With
// PostgreSQL every commit sends NOTIFY, so every instance LISTENs whether or not it has Redis too: a
// writer whose Redis is lost or stalled still reaches every other instance, and an instance whose Redis
// is lost or stalled still hears every writer, with nothing to detect first. Redis, where there is one,
// is the second path (it carries the hints if the LISTEN connection is lost). The price of two paths is
// a second hint per change, which the ChangeLogFollower folds into the read the first one started (one read
// at a time, at most one more after it): at most one more indexed read of the log per change and
// instance, and none on the hot path.
export class HintPaths implements Hints {
  readonly #paths: HintPath[]
  readonly #pollSeconds: number
  readonly #report: HintReport

  constructor (paths: HintPath[], pollSeconds: number, report: HintReport) {
    this.#paths = paths
    this.#pollSeconds = pollSeconds
    this.#report = report
  }

  start (look: () => void): void {
    for (const path of this.#paths) {
      const reportLost = throttled(this.#report)
      const reportBack = throttled(this.#report)
      path.start(look, (event, reason) => {
        // A lost path may mean the store is gone too: read now, so that a failing read shows in readiness
        // at once (rather than at the next poll, which may be an hour away).
        if (event === 'lost') {
          look()
          reportLost('warn', `hints: ${path.name} ${path.down ?? 'lost'} (${reason}): ${this.#meanwhile()} until it answers again`)
        } else reportBack('info', `hints: ${path.name} answers again: catching up from the store`)
      })
    }
  }

  publish (): void {
    for (const path of this.#paths) path.publish()
  }

  degraded (): string[] {
    const down = this.#paths.filter((p) => p.down !== undefined)
    if (down.length === 0) return []
    return [`hints: ${down.map((p) => `${p.name} ${p.down}`).join(' and ')}, ${this.#meanwhile()}`]
  }

  unready (): string | undefined {
    if (this.#paths.length === 0 || this.#paths.some((p) => p.down === undefined)) return undefined
    if (this.#pollSeconds <= POLLING_ENOUGH_SECONDS) return undefined
    return `no hint path works (${this.#paths.map((p) => `${p.name} ${p.down}`).join(' and ')}): polling every ${this.#pollSeconds} s is too slow`
  }

  // What carries the news while some path does not.
  #meanwhile (): string {
    const working = this.#paths.filter((p) => p.down === undefined).map((p) => p.name)
    return working.length > 0 ? `listening on ${working.join(' and ')}` : `following changes by polling every ${this.#pollSeconds} s`
  }

  async close (): Promise<void> {
    await Promise.all(this.#paths.map((p) => p.close()))
  }
}

// A connection that is up but gets no answer is as lost as a closed one, and closes nothing by itself (a
// Redis hung, a network path gone dark, a listener that accepts and never replies). So the subscribed
// connection is asked PING every HEARTBEAT_MS, and a connection that has had a command waiting for
// ANSWER_WITHIN_MS without a byte back is destroyed (ioredis's socketTimeout; the handshake of a new
// connection too): it then closes, and is retried, as any lost connection. A stall is noticed within
// HEARTBEAT_MS + ANSWER_WITHIN_MS.
const HEARTBEAT_MS = 1000
const ANSWER_WITHIN_MS = 2000

const timedOut = (err: Error): boolean => err.message.startsWith('Socket timeout') || (err as NodeJS.ErrnoException).code === 'ETIMEDOUT'

// Redis pub/sub on `<REDIS_PREFIX>changes`. Two connections: one subscribed, one to publish on. The
// connection is retried forever (ioredis's back-off). The subscribed connection says whether the path
// works: the publisher's own losses are the same server's (the publisher has no heartbeat; a publish that
// gets no answer destroys its connection, and a publish while it reconnects fails at once: a hint, which
// the other path or polling covers).
export class RedisHints implements HintPath {
  // ioredis loaded here, not by the module: an instance without REDIS_URL never holds it.
  static async create (url: string, prefix: string, report: HintReport): Promise<RedisHints> {
    const { Redis } = await import('ioredis')
    return new RedisHints(Redis, url, prefix, report)
  }

  readonly name = 'Redis'
  readonly #subscriber: Redis
  readonly #publisher: Redis
  readonly #channel: string
  readonly #reportRefusal: HintReport
  #down?: PathDown
  #lastError?: Error
  #heartbeat?: NodeJS.Timeout
  #closed = false

  // `report` is told of what Redis refuses (an ACL that forbids the channel): connection losses go to
  // start()'s `changed`.
  private constructor (RedisClient: typeof Redis, url: string, prefix: string, report: HintReport) {
    this.#channel = `${prefix}changes`
    this.#reportRefusal = throttled(report)
    const options = {
      lazyConnect: true,
      connectionName: 'auth-service',
      // Commands fail at once while disconnected rather than queueing (a publish is a hint: polling covers it).
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      connectTimeout: 5000,
      socketTimeout: ANSWER_WITHIN_MS,
      retryStrategy: (times: number) => Math.min(times * 200, 2000)
    }
    this.#subscriber = new RedisClient(url, { ...options, enableOfflineQueue: true, maxRetriesPerRequest: null })
    this.#publisher = new RedisClient(url, options)
    this.#subscriber.on('error', (err: Error) => { this.#lastError = err })
    this.#publisher.on('error', () => {}) // the subscriber's state tells (above)
  }

  get down (): PathDown | undefined { return this.#down }

  start (look: () => void, changed: (event: 'lost' | 'back', reason: string) => void): void {
    const subscriber = this.#subscriber
    subscriber.on('message', (channel: string) => { if (channel === this.#channel) look() })
    subscriber.on('close', () => {
      const err = this.#lastError
      this.#lastError = undefined
      if (this.#down || this.#closed) return
      this.#down = err && timedOut(err) ? 'stalled' : 'unreachable'
      changed('lost', err?.message ?? 'connection closed')
    })
    // ioredis subscribes again on reconnection; the changes of the gap are read from the store.
    subscriber.on('ready', () => {
      this.#lastError = undefined
      if (!this.#down) return
      this.#down = undefined
      look()
      changed('back', '')
    })
    // Only while ready: PINGs must not pile up in the offline queue while it reconnects.
    this.#heartbeat = setInterval(() => { if (subscriber.status === 'ready') subscriber.ping().catch(() => {}) }, HEARTBEAT_MS)
    this.#heartbeat.unref()
    // Subscribed whether or not the first connection succeeds: the command waits in ioredis's queue until a
    // connection is ready, and ioredis subscribes again after every reconnection. (Subscribing only once
    // connect() had resolved left an instance that started while Redis was unreachable, or lost it during
    // the first handshake, never subscribed: found by the Redis-cut test.)
    subscriber.connect().catch(() => {}) // retried by retryStrategy; its losses reported through 'close'
    subscriber.subscribe(this.#channel).catch((err: Error) => this.#refused(err))
    this.#publisher.connect().catch(() => {})
  }

  publish (): void {
    this.#publisher.publish(this.#channel, '').catch((err: Error) => this.#refused(err))
  }

  async close (): Promise<void> {
    this.#closed = true
    clearInterval(this.#heartbeat)
    this.#subscriber.disconnect()
    this.#publisher.disconnect()
  }

  // An error Redis answered (not a connection that failed: those are the subscriber's losses).
  #refused (err: Error): void {
    if (err.name === 'ReplyError') this.#reportRefusal('warn', `hints: Redis refused: ${err.message}`)
  }
}

// PostgreSQL's LISTEN on a connection of its own (pg_notify is sent by the transaction that records the
// change, delivered when it commits: the CLI's changes too). Reconnects with a back-off after a loss. As
// with Redis, a connection that hangs without closing is lost too: it is asked `SELECT 1` every
// HEARTBEAT_MS, and one that has not answered (that, or the LISTEN of a new connection) within
// ANSWER_WITHIN_MS is destroyed, counted stalled, and replaced.
export class PostgresHints implements HintPath {
  readonly name = 'PostgreSQL'
  readonly #url: string
  #client?: Client
  #closed = false
  #timer?: NodeJS.Timeout
  #heartbeat?: NodeJS.Timeout
  #down?: PathDown

  constructor (url: string) {
    this.#url = url
  }

  get down (): PathDown | undefined { return this.#down }

  start (look: () => void, changed: (event: 'lost' | 'back', reason: string) => void): void {
    const connect = async (delayMs: number) => {
      const { default: pg } = await import('pg') // loaded for a PostgreSQL store only
      if (this.#closed) return
      const client = new pg.Client({ connectionString: this.#url, connectionTimeoutMillis: 5000, keepAlive: true, application_name: 'auth-service-listen' })
      const retry = (err: Error, down: PathDown = 'unreachable') => {
        if (this.#closed || this.#client !== client) return
        this.#client = undefined
        // Destroyed rather than ended: ending waits for a server that may never answer.
        ;(client as unknown as { connection?: { stream?: { destroy (): void } } }).connection?.stream?.destroy()
        client.end().catch(() => {})
        if (!this.#down) {
          this.#down = down
          changed('lost', err.message)
        }
        const next = Math.min(delayMs * 2, 5000)
        this.#timer = setTimeout(() => { connect(next).catch(() => {}) }, delayMs)
        this.#timer.unref()
      }
      this.#client = client
      client.on('error', retry)
      client.on('end', () => retry(new Error('connection ended')))
      client.on('notification', (message) => { if (message.channel === CHANGE_CHANNEL) look() })
      // A query answered within ANSWER_WITHIN_MS, or the connection counted stalled and dropped.
      const answered = async (sql: string): Promise<boolean> => {
        let timer: NodeJS.Timeout | undefined
        const timeout = new Promise<'timeout'>((resolve) => { timer = setTimeout(() => resolve('timeout'), ANSWER_WITHIN_MS) })
        try {
          const outcome = await Promise.race([client.query(sql), timeout])
          if (outcome === 'timeout') { retry(new Error(`no answer to ${sql} within ${ANSWER_WITHIN_MS} ms`), 'stalled'); return false }
          return true
        } finally {
          clearTimeout(timer)
        }
      }
      try {
        await client.connect()
        if (!await answered(`LISTEN ${CHANGE_CHANNEL}`)) return
      } catch (err) {
        retry(err as Error)
        return
      }
      if (this.#client !== client) return
      // Listening from now on: whatever was committed before is read from the store.
      look()
      if (this.#down) {
        this.#down = undefined
        changed('back', '')
      }
      let asking = false
      const heartbeat = setInterval(() => {
        if (this.#client !== client) { clearInterval(heartbeat); return }
        if (asking) return
        asking = true
        answered('SELECT 1').catch((err: Error) => retry(err)).finally(() => { asking = false })
      }, HEARTBEAT_MS)
      heartbeat.unref()
      this.#heartbeat = heartbeat
    }
    connect(250).catch(() => {})
  }

  publish (): void {} // NOTIFY goes out with the transaction itself

  async close (): Promise<void> {
    this.#closed = true
    clearTimeout(this.#timer)
    clearInterval(this.#heartbeat)
    const client = this.#client
    this.#client = undefined
    await client?.end().catch(() => {})
  }
}

// One hint, from a program that runs once (the CLI) after it changed something. Best effort: if Redis
// cannot be reached in a few seconds, the instances see the change at their next poll.
export async function publishOnce (url: string, prefix: string): Promise<void> {
  // socketTimeout: a Redis that accepts and never answers must not hold the program forever either.
  const { Redis } = await import('ioredis')
  const client = new Redis(url, { lazyConnect: true, connectTimeout: 3000, socketTimeout: 3000, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null })
  client.on('error', () => {})
  try {
    await client.connect()
    await client.publish(`${prefix}changes`, '')
  } finally {
    client.disconnect()
  }
}
