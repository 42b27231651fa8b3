import type { Server, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { setImmediate as nextTurn } from 'node:timers/promises'

// HTTP servers that are shutting down: their request handler answers every new request with 503 and
// Retry-After (src/app.ts), before any Fastify routing, while the requests already in flight finish.
export const draining = new WeakSet<object>()

// A shutdown must answer every request the service accepted before its listener closed. Measured, with
// 80 requests written on fresh connections 30 ms before SIGTERM: 13 to 70 of them were reset, because
// closing the listening socket resets every connection still in the kernel's accept queue (handshake
// done, request sent) that the event loop had not accepted yet. A busy or starved process falls behind:
// 70 of the 80 were still queued at SIGTERM. So the listener is closed only once that queue is empty.
// Node accepts one pending connection a turn of the event loop (measured, Node 20: 62 queued connections
// took 63 turns), so the queue is empty after a turn that accepted none. Each of those turns also polls
// the connections already accepted, so a request sitting unread in a socket's buffer is read and parsed
// before Fastify and Node close the connections that look idle (Node counts a connection idle until it
// has parsed the first bytes of a request). What is accepted meanwhile is answered 503 by the draining
// handler. Bounded by ACCEPT_DRAIN_MS: a flood of new connections cannot hold the listener open.
// And every answer still to be written when draining begins says Connection: close, so that no client
// sends another request on a connection about to be closed as idle.
const ACCEPT_DRAIN_MS = 1000

type HttpSocket = Socket & { _httpMessage?: ServerResponse | null }

class Connections {
  readonly sockets = new Set<HttpSocket>()
  accepted = 0

  constructor (server: Server) {
    server.on('connection', (socket: HttpSocket) => {
      this.accepted++
      this.sockets.add(socket)
      socket.once('close', () => { this.sockets.delete(socket) })
    })
  }
}

const tracked = new WeakMap<Server, Connections>()

// Called on the server as it is made (src/app.ts).
export function trackConnections (server: Server): void {
  tracked.set(server, new Connections(server))
}

// The start of a shutdown: new requests are answered 503, answers still to come say Connection: close;
// resolves once the accept queue is empty, when the listener may close.
export async function beginDraining (server: Server): Promise<void> {
  draining.add(server)
  const connections = tracked.get(server)
  if (connections === undefined) return
  for (const socket of connections.sockets) {
    // The answer being made on it (Node sets _httpMessage from a request's arrival until its answer is
    // written, as its own closeIdleConnections() checks).
    const response = socket._httpMessage
    if (response && !response.headersSent) response.setHeader('connection', 'close')
  }
  if (!server.listening) return
  await nextTurn() // to this turn's check phase, perhaps without a poll; from here, one poll a turn
  const deadline = performance.now() + ACCEPT_DRAIN_MS
  for (let before = connections.accepted; performance.now() < deadline; before = connections.accepted) {
    await nextTurn()
    if (connections.accepted === before) return
  }
}
