import type { IncomingMessage, ServerResponse } from 'node:http'
import { maxHeaderSize } from 'node:http'
import type { Duplex } from 'node:stream'
import type { ErrorCode } from '../error-codes.js'
import { errorBody } from './errors.js'
import { JSON_API_HEADERS } from './security-headers.js'

// Answers the server gives before, or instead of, Fastify: what Node's HTTP parser could not read, a
// request Node itself would refuse (no Host, an Expect it cannot meet, CONNECT), and a new request while
// the server drains. Each in the service's error shape (src/error-codes.ts), with the JSON API's security
// headers, `Cache-Control: no-store` and the connection closed. Fastify's own handlers would answer these
// in another shape (or Node with an empty body, or not at all), without a code or the headers. No hook runs
// for them: no access line, no metric, no CORS.
const HEADERS: Record<string, string> = { ...JSON_API_HEADERS, 'cache-control': 'no-store', connection: 'close' }
const HEAD_LINES = Object.entries(HEADERS).map(([name, value]) => `${name}: ${value}\r\n`).join('')

// On a socket Node's HTTP server has let go of (a parser error, CONNECT): the whole answer written raw.
function refuseOnSocket (socket: Duplex, code: ErrorCode, message: string): void {
  const body = errorBody(code, message)
  const json = JSON.stringify(body)
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${body.statusCode} ${body.error}\r\ncontent-type: application/json; charset=utf-8\r\n` +
      `content-length: ${Buffer.byteLength(json)}\r\n${HEAD_LINES}\r\n${json}`)
  }
}

// On a request Node parsed: through its response.
export function refuse (res: ServerResponse, code: ErrorCode, message: string, extra: Record<string, string> = {}): void {
  const body = errorBody(code, message)
  const json = JSON.stringify(body)
  res.writeHead(body.statusCode, {
    ...HEADERS, ...extra, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(json)
  }).end(json)
}

// Fastify's clientErrorHandler: what the parser could not read, or not in time. A reset connection has
// nobody to answer.
export function clientError (err: NodeJS.ErrnoException, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') refuseOnSocket(socket, 'request_timeout', 'The request did not arrive in time')
  else if (err.code === 'HPE_HEADER_OVERFLOW') refuseOnSocket(socket, 'headers_too_large', `The request line and headers are larger than ${maxHeaderSize / 1024} KiB`)
  else refuseOnSocket(socket, 'bad_request', 'The request is not well-formed HTTP')
  socket.destroy(err)
}

// HTTP/1.1 requires a Host header (RFC 9112 §3.2); Node's own check (requireHostHeader, turned off in the
// server factory) answers a bare 400 with no body. HTTP/1.0 may leave it out.
export function refusedForNoHost (req: IncomingMessage, res: ServerResponse): boolean {
  if (req.headers.host !== undefined || req.httpVersion !== '1.1') return false
  refuse(res, 'bad_request', 'An HTTP/1.1 request needs a Host header')
  return true
}

// The server's 'checkExpectation' event: an Expect header other than 100-continue.
export function expectationFailed (_req: IncomingMessage, res: ServerResponse): void {
  refuse(res, 'expectation_failed', 'Only Expect: 100-continue is supported')
}

// The server's 'connect' event: the service is no proxy. Without a listener Node drops the connection
// without a word.
export function refuseConnect (_req: IncomingMessage, socket: Duplex): void {
  refuseOnSocket(socket, 'not_found', 'No such route')
  socket.end()
}
