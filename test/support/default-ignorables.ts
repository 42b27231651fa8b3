import { readFileSync } from 'node:fs'
import { join } from 'node:path'

// Unicode's own list of Default_Ignorable_Code_Point (test/fixtures/default-ignorable-code-points.txt, the
// section of DerivedCoreProperties.txt as printed), read line by line: an independent check of src/, which
// uses the regular expression engine's \p{Default_Ignorable_Code_Point}.
const text = readFileSync(join(import.meta.dirname, '..', 'fixtures', 'default-ignorable-code-points.txt'), 'utf8')

export const UNICODE_VERSION = /^# Unicode version: (\d+\.\d+\.\d+)/m.exec(text)![1]
// What the file says it lists ("# Total code points: 4174").
export const STATED_TOTAL = Number(/^# Total code points: (\d+)$/m.exec(text)![1])

// Each range as the file prints it, with the file's own comment (general category and names).
export const RANGES: Array<{ first: number, last: number, comment: string }> = []
for (const line of text.split('\n')) {
  const m = /^([0-9A-F]{4,6})(?:\.\.([0-9A-F]{4,6}))?\s*;\s*Default_Ignorable_Code_Point\s*#\s*(.*)$/.exec(line)
  if (m) RANGES.push({ first: parseInt(m[1], 16), last: parseInt(m[2] ?? m[1], 16), comment: m[3] })
}

// Every code point of every range, as a one-character string.
export const DEFAULT_IGNORABLES: string[] = RANGES.flatMap(({ first, last }) =>
  Array.from({ length: last - first + 1 }, (_, i) => String.fromCodePoint(first + i)))

// The first and last code point of each range: a sample for what is too slow to repeat 4,174 times (a
// process each, a hash each).
export const SAMPLE: string[] = [...new Set(RANGES.flatMap(({ first, last }) => [first, last]))].map((cp) => String.fromCodePoint(cp))

// The invisible Hangul fillers: letters (Lo) of the Hangul script, absent from confusables.txt as sources.
export const FILLERS = ['\u115F', '\u1160', '\u3164', '\uFFA0']

// U+XXXX, for messages and test names.
export const hex = (c: string) => `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`

// Passwords: the messages of the rules that refuse them.
export const SHORT = /^password must be at least 8 characters, not counting spaces and invisible characters$/
export const COMMON = /^password is too common: it is one of the 10,000 most used passwords; choose another$/
const REPEATED = /^password is one character repeated; choose another$/

// Passwords once accepted that show nothing a person can read, each with the rule that now refuses it.
export const BLANK: Array<[string, string, RegExp]> = [
  ['8 spaces', ' '.repeat(8), SHORT],
  ['8 zero-width spaces', '\u200b'.repeat(8), SHORT],
  ['8 soft hyphens', '\u00ad'.repeat(8), SHORT],
  ['8 variation selectors-16', '\ufe0f'.repeat(8), SHORT],
  ['8 tag spaces', '\u{E0020}'.repeat(8), SHORT],
  ['8 combining acute accents', '\u0301'.repeat(8), SHORT],
  ...FILLERS.map((c): [string, string, RegExp] => [`8 × ${hex(c)}`, c.repeat(8), SHORT]),
  ['8 full stops', '.'.repeat(8), REPEATED],
  ['one letter in mixed case', 'aAaAaAaAaA', REPEATED],
  ['a common password between fillers', '\u3164password\u3164', COMMON],
  ['a common password among fillers', 'pass\u1160\u1160word\uffa0', COMMON],
  ['8 spaces and a tab', ' '.repeat(8) + '\t', SHORT],
  ['a no-break space and ideographic spaces', '\u00a0' + '\u3000'.repeat(8), SHORT],
  ['six letters and spaces', 'I am bob', SHORT],
  ['seven letters, a mark and spaces', 'I am bob!', SHORT]
]
