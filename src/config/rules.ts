import { BlockList, isIP } from 'node:net'
import type { Config } from './schema.js'

// A rule between variables, or on one variable's value, that a schema of independent properties cannot
// say. `check` returns the problem (its message names the variable) or undefined; `rule` says the same for
// docs/configuration.md, "Rules between variables" (scripts/reference.ts renders this list).
export interface ConfigRule {
  variables: ReadonlyArray<keyof Config>
  rule: string
  check: (c: Config) => string | undefined
}

export const CONFIG_RULES: readonly ConfigRule[] = [
  {
    variables: ['JWT_ALGORITHM', 'JWT_SECRET'],
    rule: '`JWT_SECRET` is required when `JWT_ALGORITHM` is `HS256`: there is no default secret.',
    check: (c) => c.JWT_ALGORITHM === 'HS256' && c.JWT_SECRET === undefined ? 'env/JWT_SECRET is required when JWT_ALGORITHM is HS256' : undefined
  },
  {
    variables: ['JWT_SECRET', 'JWT_ALGORITHM'],
    rule: '`JWT_SECRET` is allowed only with `JWT_ALGORITHM=HS256`.',
    check: (c) => c.JWT_ALGORITHM !== 'HS256' && c.JWT_SECRET !== undefined ? `env/JWT_ALGORITHM must be HS256 when JWT_SECRET is set (it is ${c.JWT_ALGORITHM})` : undefined
  },
  {
    variables: ['DATABASE_URL'],
    rule: 'A `postgres://` `DATABASE_URL` must parse as a URL (a port in range, a valid host; %-encode special ' +
      'characters in the password), have a host (or a `?host=` parameter), and hold no `%` in the user or password ' +
      'that is not a %-escape (write `%` as `%25`). The message never shows the URL.',
    check: (c) => urlProblem('DATABASE_URL', c.DATABASE_URL)
  },
  {
    variables: ['REDIS_URL'],
    rule: 'A `REDIS_URL` must parse as a URL with a host, hold no `%` in the user or password that is not a ' +
      '%-escape, and have as its path a database number (`redis://host:6379/0`) or nothing. The message never shows the URL.',
    check: (c) => urlProblem('REDIS_URL', c.REDIS_URL)
  },
  {
    variables: ['PUBLIC_URL'],
    rule: '`PUBLIC_URL` is published: it must parse as a URL, hold no user or password, and be written as a URL parser ' +
      'writes it (the message gives that spelling), since it is published both as written and as parsed.',
    check: (c) => publicUrlProblem(c.PUBLIC_URL)
  },
  {
    variables: ['TRUST_PROXY'],
    rule: '`TRUST_PROXY` must be `false`, `true`, a hop count (1 to 10), or a comma-separated list of IP addresses, ' +
      'CIDRs (a prefix length of 1 to 32 for IPv4, 1 to 128 for IPv6; a `/0` is refused: say `true`) and the names `loopback`, ' +
      '`linklocal`, `uniquelocal`, with no empty entry.',
    check: (c) => trustProxyProblem(c.TRUST_PROXY)
  },
  {
    variables: ['CORS_ORIGINS'],
    rule: '`CORS_ORIGINS` must be a comma-separated list of exact origins as browsers send them: ' +
      '`http(s)://host[:port]`, lower case, no path and no trailing slash (the message suggests the origin meant).',
    check: (c) => corsOriginsProblem(c.CORS_ORIGINS)
  }
]

// The first rule the configuration breaks, in CONFIG_RULES' order. Messages name the variable.
export function configProblem (c: Config): string | undefined {
  for (const { check } of CONFIG_RULES) {
    const problem = check(c)
    if (problem !== undefined) return problem
  }
  return undefined
}

// A server URL that its client library could not parse (a port out of range, a bad host) would stop the
// start with "Invalid URL" and a stack: said here, naming the variable, never showing the URL (it may hold
// a password). sqlite: paths are not URLs.
function urlProblem (name: string, value: string | undefined): string | undefined {
  if (value === undefined || value.startsWith('sqlite:')) return undefined
  const url = URL.parse(value)
  if (url === null) return `env/${name} is not a valid URL (check the host, the port, and %-encode special characters in the password)`
  if (url.hostname === '' && !/[?&]host=/.test(url.search)) return `env/${name} has no host`
  // Both clients %-decode the user and password: a % that is not an escape stopped the start with "URI
  // malformed", naming nothing.
  try {
    decodeURIComponent(url.username)
    decodeURIComponent(url.password)
  } catch {
    return `env/${name}: the user or password holds a % that is not a %-escape (write % as %25)`
  }
  // ioredis takes the path as the database number: /abc became SELECT NaN, an uncaught error with a stack.
  if (name === 'REDIS_URL' && !/^\/?\d*$/.test(url.pathname)) return 'env/REDIS_URL: the path must be a database number (redis://host:6379/0) or nothing'
  return undefined
}

// PUBLIC_URL is published (discovery document, OpenAPI servers): never with credentials in it.
function publicUrlProblem (value: string | undefined): string | undefined {
  if (value === undefined) return undefined
  const url = URL.parse(value)
  if (!url) return 'env/PUBLIC_URL is not a valid URL'
  if (url.username !== '' || url.password !== '') return 'env/PUBLIC_URL must not contain a user or password: it is published'
  // Published as written (the discovery document) and as parsed (OpenAPI servers): the two must be one URL,
  // or another parser reads another host or path (a backslash, stray %-escapes).
  if (url.href !== value && url.href !== `${value}/`) return `env/PUBLIC_URL must be written as a URL parser writes it: ${url.href.replace(/(.)\/$/, '$1')}`
  return undefined
}

// TRUST_PROXY as Fastify's `trustProxy` option: false, true, the list as one comma-separated string, or
// for a hop count a function trusting that many nearest hops.
export type TrustProxy = boolean | string | ((address: string, hop: number) => boolean)

const PROXY_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']) // proxy-addr's names for those ranges

function proxyEntryProblem (entry: string): string | undefined {
  if (PROXY_NAMES.has(entry)) return undefined
  const [address, prefix, extra] = entry.split('/')
  const family = isIP(address)
  if (family === 0 || extra !== undefined) return `"${entry}" is not an IP address or CIDR`
  if (prefix === undefined) return undefined
  const bits = family === 4 ? 32 : 128
  // A /0 trusts every peer, which proxy-addr refuses (with an error of its own, at the server's making):
  // that is TRUST_PROXY=true, said as such.
  if (!/^\d{1,3}$/.test(prefix) || Number(prefix) > bits) return `"${entry}" has a prefix length that is not 1 to ${bits}`
  if (Number(prefix) === 0) return `"${entry}" trusts every peer: say TRUST_PROXY=true if you mean it`
  return undefined
}

export function trustProxyProblem (value: string): string | undefined {
  const v = value.trim().toLowerCase()
  if (v === 'true' || v === 'false') return undefined
  const expected = 'must be false, true, a hop count (1 to 10), or a comma-separated list of proxy addresses or CIDRs (10.0.0.0/8)'
  if (/^\d+$/.test(v)) return Number(v) >= 1 && Number(v) <= 10 ? undefined : `env/TRUST_PROXY ${expected}: ${v} hops`
  const entries = value.split(',').map((e) => e.trim())
  for (const entry of entries) {
    const problem = entry === '' ? 'an empty entry' : proxyEntryProblem(entry)
    if (problem) return `env/TRUST_PROXY ${expected}: ${problem}`
  }
  return undefined
}

// Every local process connects from 127.0.0.1 (or ::1) unless it binds another address on purpose. A
// TRUST_PROXY that trusts them lets any process on the host send X-Forwarded-For and choose the address
// the rate limits, the login throttle and the audit log see: warned about at start and by `config check`.
// A dedicated loopback address the proxy binds (127.0.0.2) is not (docs/security.md, "Client addresses behind a proxy").
const LOCAL_SOURCES: Array<[string, 'ipv4' | 'ipv6']> = [['127.0.0.1', 'ipv4'], ['::1', 'ipv6']]

export function trustProxyWarning (value: string): string | undefined {
  const v = value.trim().toLowerCase()
  if (v === 'true' || v === 'false' || /^\d+$/.test(v)) return undefined
  const trusted = new BlockList()
  for (const entry of value.split(',').map((e) => e.trim())) {
    if (entry === 'loopback') return loopbackWarning(value)
    if (PROXY_NAMES.has(entry)) continue
    const [address, prefix] = entry.split('/')
    const family = isIP(address) === 4 ? 'ipv4' : 'ipv6'
    trusted.addSubnet(address, prefix === undefined ? (family === 'ipv4' ? 32 : 128) : Number(prefix), family)
  }
  return LOCAL_SOURCES.some(([address, family]) => trusted.check(address, family)) ? loopbackWarning(value) : undefined
}

const loopbackWarning = (value: string) =>
  `TRUST_PROXY trusts the loopback address every local process connects from (${value.trim()}): any process on this host can then send X-Forwarded-For and choose its client address ` +
  '(the rate limits\', the login throttle\'s and the audit log\'s); trust only the address the proxy connects from, e.g. a dedicated 127.0.0.2 (docs/security.md, "Client addresses behind a proxy")'

// A hop count: the `hops` nearest peers are trusted to report the address before them, whoever they are.
// Fastify 5 turns a numeric trustProxy into "trust nobody" (it cannot tell a proxy from a client that
// connects directly and sends its own X-Forwarded-For), so the count is given as this function; the
// deployment must then make the service reachable only through its proxies (docs/security.md, "Client
// addresses behind a proxy"). One function a count, so that the server's option and the configuration compare equal.
const HOP_TRUST = new Map<number, (address: string, hop: number) => boolean>()
function trustHops (hops: number) {
  let trust = HOP_TRUST.get(hops)
  if (!trust) HOP_TRUST.set(hops, trust = (_address: string, hop: number) => hop < hops)
  return trust
}

// The value of a TRUST_PROXY that trustProxyProblem accepted.
export function trustProxySetting (value: string): TrustProxy {
  const v = value.trim().toLowerCase()
  if (v === 'true' || v === 'false') return v === 'true'
  if (/^\d+$/.test(v)) return trustHops(Number(v))
  return value.split(',').map((e) => e.trim()).join(',')
}

// Exact origins as browsers send them in the Origin header: scheme://host[:port], lower case, no path.
function corsOriginsProblem (value: string | undefined): string | undefined {
  if (value === undefined) return undefined
  for (const entry of value.split(',').map((e) => e.trim())) {
    const url = URL.parse(entry)
    const origin = url?.protocol === 'http:' || url?.protocol === 'https:' ? url.origin : undefined
    if (origin !== entry) {
      return `env/CORS_ORIGINS must be a comma-separated list of origins (https://app.example.com[:port], no path): "${entry}" is not one` +
        (origin ? ` (did you mean ${origin}?)` : '')
    }
  }
  return undefined
}

export function corsOrigins (value: string | undefined): string[] {
  return value === undefined ? [] : value.split(',').map((e) => e.trim())
}
