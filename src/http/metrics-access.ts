import { createHash, timingSafeEqual } from 'node:crypto'
import { isIPv4 } from 'node:net'
import { bearerToken } from '../tokens/access-tokens.js'

// Who may scrape (docs/operations.md, "Metrics"). Without a token: peers on the loopback interface, by the socket's
// own address (never request.ip, which X-Forwarded-For sets under TRUST_PROXY), and only requests that do
// not say they were forwarded (a reverse proxy on the same host is a loopback peer, and would otherwise
// open /metrics to everyone it serves). With a token: whoever sends it as `Authorization: Bearer <token>`,
// from anywhere, and nobody else. Never a request with two Authorization headers, as no protected route
// takes one.
export interface ScrapeRequest {
  peerAddress: string | undefined // request.socket.remoteAddress
  authorization: string | undefined // the first Authorization header (Node keeps no other)
  secondAuthorization: boolean // more than one came: ambiguous, and refused whatever they hold
  forwarded: boolean // X-Forwarded-For or Forwarded present
}

export class MetricsAccess {
  readonly #digest?: Buffer

  constructor (token: string | undefined) {
    this.#digest = token === undefined ? undefined : sha256(token)
  }

  get tokenRequired (): boolean {
    return this.#digest !== undefined
  }

  allows ({ peerAddress, authorization, secondAuthorization, forwarded }: ScrapeRequest): boolean {
    if (secondAuthorization) return false
    if (this.#digest === undefined) return isLoopback(peerAddress) && !forwarded
    const token = authorization === undefined ? undefined : bearerToken(authorization)
    // Compared as SHA-256 digests: equal lengths, in constant time, whatever was sent.
    return timingSafeEqual(sha256(token ?? ''), this.#digest) && token !== undefined
  }
}

const sha256 = (value: string) => createHash('sha256').update(value).digest()

// 127.0.0.0/8, ::1, and IPv4-mapped 127.x (a dual-stack socket's view of an IPv4 loopback peer).
function isLoopback (address: string | undefined): boolean {
  if (address === undefined) return false
  if (address === '::1') return true
  const v4 = address.toLowerCase().startsWith('::ffff:') ? address.slice(7) : address
  return isIPv4(v4) && v4.startsWith('127.')
}
