// Writes the generated reference pages of docs/ from the sources they describe, so that they cannot drift:
// - docs/configuration.md, from the config schema (src/config/schema.ts: each variable's type, range,
//   default and description), the rules between variables that configProblem checks (src/config/rules.ts)
//   and the variables fastify-cli and `npm start` read (READ_BY_FASTIFY_CLI);
// - docs/errors.md, from the table of error codes (src/error-codes.ts) and the map of Fastify's own
//   refusals into it.
//
//   node scripts/reference.ts           write both pages (npm run docs)
//   node scripts/reference.ts --check   write nothing: exit 1, naming the page, when one is not what would
//                                       be written (npm run lint)
//
// Run by Node's type stripping (Node 26, the pinned one under npm), so it imports the sources by their .ts
// names: src/config/schema.ts, src/config/rules.ts and src/error-codes.ts import nothing at run time but
// packages and node: modules (their `./schema.js` import is a type), which Node resolves without a loader.
// The output depends on nothing but those sources: no date, no machine.
import type { TObject, TSchema } from '@sinclair/typebox'
import { readFileSync, writeFileSync } from 'node:fs'
import { basename, isAbsolute, join, relative, resolve } from 'node:path'
import { CONFIG_RULES, type ConfigRule } from '../src/config/rules.ts'
import { ConfigSchema, READ_BY_FASTIFY_CLI, UNSET_MEANS, type OutsideVariable } from '../src/config/schema.ts'
import { ERROR_CODES, FRAMEWORK_CODES, STATUS_CODE_OF } from '../src/error-codes.ts'

const root = join(import.meta.dirname, '..')
export const REFERENCE_PATH = join(root, 'docs', 'configuration.md')
export const ERRORS_PATH = join(root, 'docs', 'errors.md')

// Inline code, whatever backticks the text holds.
const code = (text: string) => text.includes('`') ? `\`\` ${text} \`\`` : `\`${text}\``

// Text for one table cell: on one line, every | escaped (inside code spans too, as GitHub's tables want),
// and a < outside code spans written as an entity, so that `<path>` in prose is not taken for HTML.
function cell (text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').split(/(`+[^`]*`+)/)
    .map((part, i) => i % 2 === 1 ? part : part.replaceAll('<', '&lt;'))
    .join('').replaceAll('|', '\\|')
}

// "1 to 100 characters", "at least 32 characters", "at least 1 character"; "0.05 to 3600" without a unit.
function range (min: unknown, max: unknown, unit = ''): string | undefined {
  const units = (n: unknown) => unit === '' ? `${n}` : `${n} ${unit}${n === 1 ? '' : 's'}`
  if (min !== undefined && max !== undefined) return `${min} to ${units(max)}`
  if (min !== undefined) return `at least ${units(min)}`
  if (max !== undefined) return `at most ${units(max)}`
  return undefined
}

// The keywords this page knows how to say; a variable with another one stops the generator (rather than a
// page that leaves it out).
const KNOWN = new Set(['type', 'default', 'description', 'minimum', 'maximum', 'minLength', 'maxLength', 'pattern', 'anyOf'])

function typeOf (name: string, s: TSchema): string {
  const unknown = Object.keys(s).filter((key) => !KNOWN.has(key))
  if (unknown.length > 0) throw new Error(`reference: ${name}: no rendering for ${unknown.join(', ')}: teach scripts/reference.ts`)
  if (Array.isArray(s.anyOf)) {
    const values = (s.anyOf as TSchema[]).map((option) => option.const)
    if (values.some((v) => typeof v !== 'string')) throw new Error(`reference: ${name}: a union of other than string literals`)
    return `one of ${values.map((v) => code(String(v))).join(', ')}`
  }
  switch (s.type) {
    case 'boolean': return '`true` or `false`'
    case 'integer':
    case 'number': return [s.type, range(s.minimum, s.maximum)].filter(Boolean).join(', ')
    case 'string': return ['string', range(s.minLength, s.maxLength, 'character'), s.pattern === undefined ? undefined : `matching ${code(s.pattern)}`]
      .filter(Boolean).join(', ')
  }
  throw new Error(`reference: ${name}: no rendering for type ${JSON.stringify(s.type)}`)
}

function defaultOf (name: string, s: TSchema, required: boolean): string {
  if (s.default !== undefined) return code(String(s.default))
  const means = (s as { [UNSET_MEANS]?: string })[UNSET_MEANS]
  if (means !== undefined) return means
  return required ? 'required' : 'unset'
}

export interface ReferenceSources {
  schema: TObject
  rules: readonly ConfigRule[]
  outside: readonly OutsideVariable[]
}

export function renderConfigReference ({ schema, rules, outside }: ReferenceSources): string {
  const required = new Set(schema.required ?? [])
  const lines = [
    '# Configuration',
    '',
    'The service is configured by environment variables. One TypeBox schema, `ConfigSchema` in',
    '`src/config/schema.ts`, validates the environment at start-up (the server through `@fastify/env`, the',
    'command line through `env-schema`) and is the type of `fastify.config`; the [rules between',
    'variables](#rules-between-variables) are checked next. A bad value stops start-up with one line naming the',
    'variable, e.g. `env/ACCESS_TOKEN_TTL must be integer`, and exit code 1. `npm run cli -- config check`',
    'validates the environment the same way without starting, and prints every setting in effect (secrets',
    'masked, `(default)` where the variable is unset).',
    '',
    'Variables can also be put in a `.env` file in the working directory: fastify-cli (`npm start`, `fastify',
    'start`) and the command line load it with Node\'s own parser (`process.loadEnvFile`), and a variable set in',
    'the environment wins over the file. The file is checked strictly first: every line must be empty, a `#`',
    'comment or `NAME=value` (a quoted value may span lines), and Node\'s parser must read every name and every',
    'one-line value exactly as written — no byte-order mark, no unusual space or tab before a name, no unquoted',
    '`#` inside a value (`KEY=abc # note` is a comment), no text after a closing quote — or the start stops',
    'naming the line, never its content. `npm start` computes its own arguments before fastify-cli reads `.env`:',
    'see [Read by fastify-cli](#read-by-fastify-cli).',
    '',
    '> Generated by `scripts/reference.ts` from `src/config/schema.ts` and `src/config/rules.ts`; do not',
    '> edit by hand: change the description in `src/config/schema.ts` (or the rule in `src/config/rules.ts`)',
    '> and run `npm run docs`. `npm run lint` fails while this page is out of date.',
    '',
    'Contents:',
    '',
    '- [Variables](#variables)',
    '- [Rules between variables](#rules-between-variables)',
    '- [Read by fastify-cli](#read-by-fastify-cli)',
    '',
    '## Variables',
    '',
    'In the schema\'s order. The type is what the schema accepts (a value in the environment is text, read as',
    'the type); the default is what applies while the variable is unset.',
    '',
    '| variable | type | default | description |',
    '|---|---|---|---|'
  ]
  for (const [name, s] of Object.entries(schema.properties)) {
    const description = s.description
    if (typeof description !== 'string' || description.trim() === '') throw new Error(`reference: ${name} has no description in the schema`)
    lines.push(`| ${code(name)} | ${cell(typeOf(name, s))} | ${cell(defaultOf(name, s, required.has(name)))} | ${cell(description)} |`)
  }
  lines.push(
    '',
    '## Rules between variables',
    '',
    'What a schema of independent variables cannot say, checked after it (`configProblem` in',
    '`src/config/rules.ts`), in this order: the first rule broken stops start-up with a message naming the',
    'variable.',
    ''
  )
  rules.forEach((r, i) => lines.push(`${i + 1}. ${r.variables.map(code).join(', ')}: ${r.rule.replace(/\s*\n\s*/g, ' ')}`))
  lines.push(
    '',
    '## Read by fastify-cli',
    '',
    '`npm start` runs fastify-cli (`fastify start -o -l … -g … dist/src/app.js`), which takes every `FASTIFY_*`',
    'variable as its option of that name (`fastify start --help` lists them). These matter here; those also in',
    'the schema are read by the service as well.',
    '',
    '| variable | default | description |',
    '|---|---|---|'
  )
  for (const v of outside) lines.push(`| ${code(v.name)} | ${cell(v.default)} | ${cell(v.description)} |`)
  return lines.join('\n') + '\n'
}

export interface ErrorSources {
  codes: Readonly<Record<string, { status: number, description: string }>>
  framework: Readonly<Record<string, string>>
  byStatus: Readonly<Partial<Record<number, string>>>
}

export function renderErrorReference ({ codes, framework, byStatus }: ErrorSources): string {
  const lines = [
    '# Error codes',
    '',
    'Every error the service answers has one shape, whatever refused the request (a route, a plugin,',
    'Fastify, or Node\'s HTTP parser), and carries a stable `code` that programs can switch on:',
    '',
    '```json',
    '{ "statusCode": 429, "error": "Too Many Requests", "message": "Too many failed logins; retry later", "code": "login_throttled" }',
    '```',
    '',
    '`statusCode` is the HTTP status, `error` its reason phrase, `message` a sentence for people (it may',
    'change between versions; never parse it), `code` what went wrong, for programs. A code keeps its meaning',
    'and its status: codes are added, never renamed or reused. Each code has one status; a status may have',
    'several codes (a 429 is the per-address rate limit, the account throttle, or the address\'s share of the',
    'hashing queue). The OpenAPI document (`/docs/json`) lists the codes as the `code` enum of every error',
    'answer. Answers with 429 and 503 come with `Retry-After`; `missing_token` and `invalid_token` with a',
    '`WWW-Authenticate: Bearer` challenge. (One 503 is not an error body: `GET /health/ready` answers a health report, `{status: "not',
    'ready", reasons}`, for load balancers; see [Start-up, health and',
    'shutdown](operations.md#start-up-health-and-shutdown).)',
    '',
    '> Generated by `scripts/reference.ts` from `src/error-codes.ts`; do not edit by hand: change the table',
    '> there and run `npm run docs`. `npm run lint` fails while this page is out of date. A new refusal adds',
    '> its code to that table, with what a client should do about it; `test/error-codes.test.ts` fails until',
    '> a test produces it.',
    '',
    'Contents:',
    '',
    '- [Codes](#codes)',
    '- [Fastify\'s own refusals](#fastifys-own-refusals)',
    '',
    '## Codes',
    '',
    '| code | status | meaning |',
    '|---|---|---|'
  ]
  const ordered = Object.entries(codes).sort(([, a], [, b]) => a.status - b.status)
  for (const [name, { status, description }] of ordered) lines.push(`| ${code(name)} | ${status} | ${cell(description)} |`)
  lines.push(
    '',
    '## Fastify\'s own refusals',
    '',
    'What Fastify and its plugins refuse before a route runs is answered in the same shape, with the code',
    'its own error code maps to (`FRAMEWORK_CODES` in `src/error-codes.ts`):',
    '',
    '| Fastify\'s code | code |',
    '|---|---|'
  )
  for (const [fastifyCode, ours] of Object.entries(framework)) lines.push(`| ${code(fastifyCode)} | ${code(ours)} |`)
  lines.push(
    '',
    'Any other refusal of Fastify\'s is answered by its status: ' +
      Object.entries(byStatus).map(([status, ours]) => `${status} ${code(ours ?? '')}`).join(', ') +
      '. One with a status that has no code here is answered 400 `bad_request` and logged as an error (it',
    'means this map needs a line). What Node refuses before Fastify sees it is answered by the server itself',
    '(`src/http/outside-fastify.ts`), in the same shape with the security headers, and the connection',
    'closed: a request that is not HTTP `bad_request`, a request line and headers over 16 KiB',
    '`headers_too_large`, a request that does not arrive within the timeouts `request_timeout`, an HTTP/1.1',
    'request without `Host` `bad_request`, an `Expect` other than `100-continue` `expectation_failed`, and',
    '`CONNECT` (the service is no proxy) `not_found`. Fastify\'s router never answers its 414 here: it takes',
    'a path parameter of any length (an id it does not know is `not_found`), and a URL too long for Node is',
    '`headers_too_large`.'
  )
  return lines.join('\n') + '\n'
}

export const CURRENT: ReferenceSources = { schema: ConfigSchema, rules: CONFIG_RULES, outside: READ_BY_FASTIFY_CLI }
const ERRORS: ErrorSources = { codes: ERROR_CODES, framework: FRAMEWORK_CODES, byStatus: STATUS_CODE_OF }

// The pages, and what each is made from.
export const PAGES = [
  { file: REFERENCE_PATH, render: () => renderConfigReference(CURRENT), sources: 'src/config/schema.ts and src/config/rules.ts' },
  { file: ERRORS_PATH, render: () => renderErrorReference(ERRORS), sources: 'src/error-codes.ts' }
]

// --check: undefined when `file` holds what would be written, else the message (naming the file).
export function checkReference (file: string, expected = renderConfigReference(CURRENT), sources = PAGES[0].sources): string | undefined {
  // Relative to the working directory when inside it (npm run lint: docs/errors.md), else as given.
  const inside = relative(process.cwd(), file)
  const shown = inside === '' || inside.startsWith('..') || isAbsolute(inside) ? file : inside
  let actual: string
  try {
    actual = readFileSync(file, 'utf8')
  } catch {
    return `${shown} is missing: run \`npm run docs\``
  }
  if (actual === expected) return undefined
  return `${shown} is out of date with ${sources}: run \`npm run docs\` (scripts/reference.ts) and commit it`
}

if (import.meta.main) {
  const args = process.argv.slice(2)
  const check = args.includes('--check')
  // A file may be given (the tests check a tampered copy): it is checked as the page it is named like, or
  // else as the configuration reference.
  const given = args.find((a) => a !== '--check')
  const named = given === undefined ? undefined : PAGES.find((p) => basename(p.file) === basename(given)) ?? PAGES[0]
  const pages = given === undefined || named === undefined ? PAGES : [{ ...named, file: resolve(given) }]
  let failed = false
  for (const page of pages) {
    if (check) {
      const problem = checkReference(page.file, page.render(), page.sources)
      if (problem) {
        process.stderr.write(`reference: ${problem}\n`)
        failed = true
      }
    } else {
      writeFileSync(page.file, page.render())
      process.stderr.write(`reference: wrote ${relative(process.cwd(), page.file)}\n`)
    }
  }
  if (failed) process.exit(1)
}
