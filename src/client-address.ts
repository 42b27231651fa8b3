import { isIPv4, isIPv6 } from 'node:net'

// The unit that per-client limits count: an IPv4 address, or the /64 network of an IPv6 address. One
// IPv6 host is usually given a whole /64 (RFC 6177 and common practice), so counting single IPv6
// addresses would give one client 2^64 fresh budgets. IPv4-mapped IPv6 addresses count as their IPv4.
export function clientKey (ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip)
  if (mapped && isIPv4(mapped[1])) return mapped[1]
  if (!isIPv6(ip)) return ip
  return `${expand(ip).slice(0, 4).join(':')}::/64`
}

// The eight 16-bit groups of an IPv6 address, without leading zeros (a zone index such as %eth0 dropped;
// an embedded IPv4 tail counts as the last two groups).
function expand (ip: string): string[] {
  let address = ip.split('%')[0].toLowerCase()
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(address)
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number)
    address = address.slice(0, v4.index) + `${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`
  }
  const [head, tail] = address.split('::')
  const left = head ? head.split(':') : []
  const right = tail !== undefined && tail !== '' ? tail.split(':') : []
  const missing = tail === undefined ? [] : Array(8 - left.length - right.length).fill('0')
  return [...left, ...missing, ...right].map((group) => parseInt(group, 16).toString(16))
}
