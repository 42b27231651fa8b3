// Writes docs/configuration.md, the configuration reference, from the config schema (src/config/schema.ts:
// each variable's type, range, default and description), the rules between variables that configProblem
// checks (src/config/rules.ts) and the variables fastify-cli and `npm start` read (READ_BY_FASTIFY_CLI).
//
//   node scripts/config-reference.ts                  write docs/configuration.md (npm run docs)
//   node scripts/config-reference.ts --check [file]   write nothing: exit 1, naming the file, when it is not
//                                                     what would be written (npm run lint)
//
// Run by Node's type stripping (Node 26, the pinned one under npm), so it imports the sources by their .ts
// names: src/config/schema.ts and src/config/rules.ts import nothing at run time but packages and node:
// modules (their `./schema.js` import is a type), which Node resolves without a loader. The output depends
// on nothing but those sources: no date, no machine.
import type { TObject, TSchema } from '@sinclair/typebox'
import { readFileSync, writeFileSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { CONFIG_RULES, type ConfigRule } from '../src/config/rules.ts'
import { ConfigSchema, READ_BY_FASTIFY_CLI, UNSET_MEANS, type OutsideVariable } from '../src/config/schema.ts'

const root = join(import.meta.dirname, '..')
export const REFERENCE_PATH = join(root, 'docs', 'configuration.md')

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
  if (unknown.length > 0) throw new Error(`config-reference: ${name}: no rendering for ${unknown.join(', ')}: teach scripts/config-reference.ts`)
  if (Array.isArray(s.anyOf)) {
    const values = (s.anyOf as TSchema[]).map((option) => option.const)
    if (values.some((v) => typeof v !== 'string')) throw new Error(`config-reference: ${name}: a union of other than string literals`)
    return `one of ${values.map((v) => code(String(v))).join(', ')}`
  }
  switch (s.type) {
    case 'boolean': return '`true` or `false`'
    case 'integer':
    case 'number': return [s.type, range(s.minimum, s.maximum)].filter(Boolean).join(', ')
    case 'string': return ['string', range(s.minLength, s.maxLength, 'character'), s.pattern === undefined ? undefined : `matching ${code(s.pattern)}`]
      .filter(Boolean).join(', ')
  }
  throw new Error(`config-reference: ${name}: no rendering for type ${JSON.stringify(s.type)}`)
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
    '> Generated by `scripts/config-reference.ts` from `src/config/schema.ts` and `src/config/rules.ts`; do not',
    '> edit by hand: change the description in `src/config/schema.ts` (or the rule in `src/config/rules.ts`)',
    '> and run `npm run docs`. `npm run lint` fails while this page is out of date.',
    '',
    '## Contents',
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
    if (typeof description !== 'string' || description.trim() === '') throw new Error(`config-reference: ${name} has no description in the schema`)
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

export const CURRENT: ReferenceSources = { schema: ConfigSchema, rules: CONFIG_RULES, outside: READ_BY_FASTIFY_CLI }

// --check: undefined when `file` holds what would be written, else the message (naming the file).
export function checkReference (file: string, expected = renderConfigReference(CURRENT)): string | undefined {
  const shown = relative(process.cwd(), file) || file
  let actual: string
  try {
    actual = readFileSync(file, 'utf8')
  } catch {
    return `${shown} is missing: run \`npm run docs\``
  }
  if (actual === expected) return undefined
  return `${shown} is out of date with src/config/schema.ts and src/config/rules.ts: run \`npm run docs\` (scripts/config-reference.ts) and commit it`
}

if (import.meta.main) {
  const args = process.argv.slice(2)
  const check = args.includes('--check')
  const file = resolve(args.find((a) => a !== '--check') ?? REFERENCE_PATH)
  if (check) {
    const problem = checkReference(file)
    if (problem) {
      process.stderr.write(`config-reference: ${problem}\n`)
      process.exit(1)
    }
  } else {
    writeFileSync(file, renderConfigReference(CURRENT))
    process.stderr.write(`config-reference: wrote ${relative(process.cwd(), file)}\n`)
  }
}
