import { Writable } from 'node:stream'
import pino, { type LoggerOptions } from 'pino'
import t from 'tap'
import { CREDENTIAL_SERIALIZERS, writeAccessLine } from '../src/http/logging.js'

// The access line is assembled by hand (src/http/logging.ts: pino's general path costs 2 µs a line more);
// it must be the line pino itself writes for `log.info(fields, 'request')`, byte for byte, or not be
// written by hand at all.
type Fields = Parameters<typeof writeAccessLine>[1]
type Logger = Parameters<typeof writeAccessLine>[0]

function capture (options: LoggerOptions = {}, stream?: pino.DestinationStream) {
  const lines: string[] = []
  const sink = stream ?? new Writable({ write (chunk, _enc, done) { lines.push(chunk.toString()); done() } })
  const root = pino({ level: 'info', serializers: CREDENTIAL_SERIALIZERS, ...options }, sink)
  return { log: root.child({ reqId: 'req-7' }), lines }
}
const sameTime = (line: string) => line.replace(/"time":(\d+|"[^"]*")/, '"time":0')
const internals = (log: pino.Logger) => log as unknown as Logger

const FIELDS: Fields[] = [
  { method: 'GET', route: '/', status: 200, ms: 0.3, userId: '8a6f0e2c-1d2b-4c3a-9f1e-2b3c4d5e6f70' },
  { method: 'GET', route: null, status: 404, ms: 0, userId: undefined },
  { method: 'POST', route: '/admin/users/:id/disable', status: 503, ms: 1234.5, userId: undefined },
  { method: 'DELETE', route: '/me/sessions/:sessionId', status: 204, ms: 12, userId: 'quote " backslash \\ newline \n tab \t' },
  { method: 'GET', route: '/tab\there', status: 200, ms: 2, userId: 'x"y\\z' },
  { method: 'PATCH', route: '/caf\u00e9', status: 200, ms: 2, userId: 'no-escape-needed:./*_' },
  { method: 'GET', route: '/', status: 200, ms: NaN, userId: undefined },
  { method: 'GET', route: '/', status: 200, ms: 0.1, userId: 'control \u0001 \u001f separators \u2028 \u2029 non-ASCII é 名 😀 lone \ud800' }
]

t.test('the hand-assembled access line is the line pino writes, byte for byte, whatever the values', async (t) => {
  for (const [what, options] of [
    ['the service\'s logger', {}],
    ['a level formatter and ISO time', { formatters: { level: (label: string) => ({ level: label }) }, timestamp: pino.stdTimeFunctions.isoTime }],
    ['base fields and CRLF', { base: { service: 'auth "x"' }, crlf: true }]
  ] as const) {
    const { log, lines } = capture(options as LoggerOptions)
    for (const fields of FIELDS) {
      t.equal(writeAccessLine(internals(log), fields), true, `${what}: written by hand`)
      log.info(fields, 'request')
    }
    t.equal(lines.length, FIELDS.length * 2, `${what}: one line each way`)
    for (let i = 0; i < FIELDS.length; i++) {
      t.equal(sameTime(lines[2 * i]), sameTime(lines[2 * i + 1]), `${what}: fields #${i} as pino writes them`)
      t.same(JSON.parse(lines[2 * i]), { ...JSON.parse(lines[2 * i + 1]), time: JSON.parse(lines[2 * i]).time }, `${what}: the same fields`)
    }
  }
})

t.test('a logger that could change the line gets pino\'s own path, and nothing is written by hand', async (t) => {
  const fields = FIELDS[0]
  const cases: Array<[string, LoggerOptions, pino.DestinationStream?]> = [
    ['a mixin', { mixin: () => ({ region: 'eu' }) }],
    ['a message prefix', { msgPrefix: '[auth] ' }],
    ['a log formatter', { formatters: { log: (o: Record<string, unknown>) => ({ ...o, extra: 1 }) } }],
    ['a nested key', { nestedKey: 'payload' }],
    ['another message key', { messageKey: 'message' }],
    ['a stream-write hook', { hooks: { streamWrite: (s: string) => s.replace('GET', 'get') } }],
    ['redaction of a logged key', { redact: ['userId'] }],
    ['redaction by wildcard', { redact: ['*.secret'] }],
    ['a serializer of a logged key', { serializers: { ...CREDENTIAL_SERIALIZERS, route: () => 'hidden' } }],
    ['a serializer of the message', { serializers: { ...CREDENTIAL_SERIALIZERS, msg: () => 'hidden' } }],
    ['a multistream', {}, pino.multistream([{ stream: new Writable({ write (_c, _e, done) { done() } }) }])]
  ]
  for (const [what, options, stream] of cases) {
    const { log, lines } = capture(options, stream)
    t.equal(writeAccessLine(internals(log), fields), false, `${what}: not written by hand`)
    t.equal(lines.length, 0, `${what}: nothing written`)
  }
  const { log } = capture()
  const child = log.child({}, { serializers: { userId: () => 'hidden' } })
  t.equal(writeAccessLine(internals(child), fields), false, 'a route\'s own serializer of a logged key (a child\'s): not written by hand')
  t.equal(writeAccessLine({} as Logger, fields), false, 'a logger that is not this pino: not written by hand')
})
