import { isIPv6 } from 'node:net'
import { Address6 } from 'ip-address'

// The unit that per-client limits count, the same as @fastify/rate-limit's: an IPv4 address, or the /64
// network of an IPv6 address (one IPv6 host is usually given a whole /64, RFC 6177 and common practice, so
// counting single IPv6 addresses would give one client 2^64 fresh budgets). An IPv4-mapped IPv6 address
// counts as its IPv4.
export function clientKey (ip: string): string {
  if (!isIPv6(ip)) return ip.toLowerCase()
  const address = new Address6(ip)
  if (address.isMapped4()) return address.to4().correctForm()
  return `${new Address6(`${address.correctForm()}/64`).startAddress().correctForm()}/64`
}
