import { normalizeIP } from '@fastify/rate-limit'
import t from 'tap'

// The login throttle counts per client as the rate limits do, with @fastify/rate-limit's normalizeIP
// (plugins/login-throttle.ts): what it must do for that, pinned here.
const clientKey = (ip: string) => normalizeIP(ip)

t.test('per-client limits count IPv4 addresses, and IPv6 /64 networks', async (t) => {
  t.equal(clientKey('203.0.113.7'), '203.0.113.7')
  t.equal(clientKey('::ffff:203.0.113.7'), '203.0.113.7', 'IPv4-mapped')
  t.equal(clientKey('::ffff:cb00:7107'), '203.0.113.7', 'IPv4-mapped, in hexadecimal')
  t.equal(clientKey('0:0:0:0:0:ffff:203.0.113.7'), '203.0.113.7', 'IPv4-mapped, written out')
  t.equal(clientKey('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::')
  t.equal(clientKey('2001:db8:1:2::99'), '2001:db8:1:2::', 'another host of the same /64')
  t.equal(clientKey('2001:0DB8:0001:0002:ffff::1'), '2001:db8:1:2::', 'leading zeros and case')
  t.equal(clientKey('2001:db8::1'), '2001:db8::')
  t.equal(clientKey('::1'), '::')
  t.equal(clientKey('fe80::1%eth0'), 'fe80::', 'zone index dropped')
  t.not(clientKey('2001:db8:1:3::1'), clientKey('2001:db8:1:2::1'), 'another /64 is another client')
})
