import { createConnection, createServer, type Socket } from 'node:net'
import type { Test } from 'tap'

// A TCP proxy the test owns, to cut a dependency (PostgreSQL, Redis) without touching the shared server:
// cut() closes every connection through it and refuses new ones; restore() forwards again; stall() stops
// passing bytes while keeping the connections open, and accepts new ones that pass nothing either (a
// network path gone dark: the client's connection stays "ready", its commands time out). Bytes are held,
// not dropped, as TCP would: after restore() what was sent during the stall arrives, in order.
export async function tcpProxy (t: Test, target: { host: string, port: number }, forwarding = true) {
  const sockets = new Set<Socket>()
  let open = forwarding
  let stalled = false
  const server = createServer((client) => {
    client.on('error', () => {})
    if (!open) { client.destroy(); return }
    const upstream = createConnection(target.port, target.host)
    for (const s of [client, upstream]) {
      sockets.add(s)
      s.on('close', () => sockets.delete(s))
      s.on('error', () => {})
    }
    client.on('data', (d) => upstream.write(d))
    upstream.on('data', (d) => client.write(d))
    client.on('close', () => upstream.destroy())
    upstream.on('close', () => client.destroy())
    if (stalled) { client.pause(); upstream.pause() }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { for (const s of sockets) s.destroy(); server.close() })
  return {
    port: (server.address() as { port: number }).port,
    cut () { open = false; for (const s of sockets) s.destroy() },
    restore () { open = true; stalled = false; for (const s of sockets) s.resume() },
    stall () { stalled = true; for (const s of sockets) s.pause() }
  }
}

// The URL of `url` with its host and port replaced by a proxy's.
export function throughProxy (url: string, port: number): string {
  const u = new URL(url)
  u.hostname = '127.0.0.1'
  u.port = String(port)
  return u.toString()
}
