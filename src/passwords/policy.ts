import { dictionary } from '@zxcvbn-ts/language-common'
import { BreachedPasswords } from './breached.js'
import type { Config } from '../config/schema.js'
import { normalizePassword } from './hasher.js'
import { skeleton } from '../text/usernames.js'

// What a new password must be (ASVS 5 §6.2, NIST SP 800-63B §3.1.1.2): long enough, not one of the most
// common passwords, not the user's name or the service's, and (optionally) not in a known breach. No
// composition rules (a digit, a capital…): they make passwords harder to remember, not to guess.

// Lengths are counted in Unicode code points on the NFKC form (four emoji are four characters).
// PASSWORD_MIN_LENGTH may raise it, never lower it.
const PASSWORD_MIN_LENGTH_FLOOR = 8
// Bounds the work one request can cause (NFKC, argon2 over the input): measured on the password as
// received, before normalisation, in bytes of UTF-8. Applies to every password received, new or not.
export const PASSWORD_MAX_BYTES = 1024
// How many of the ranked list's passwords are refused.
const COMMON_PASSWORDS_REFUSED = 10_000

// Characters a person does not see in a password: default-ignorable code points (the regular expression
// engine's Unicode data: zero-width spaces and joiners, soft hyphen, variation selectors, tags, bidirectional
// controls, the Hangul fillers U+115F, U+1160, U+3164, U+FFA0), other format characters, control
// characters, and spaces of every kind.
const UNSEEN = /[\p{Default_Ignorable_Code_Point}\p{Cf}\p{Cc}\p{Z}\s]/gu
// Combining marks with no character to sit on (at the start, once the unseen are gone).
const LEADING_MARKS = /^\p{M}+/u

// Every dash (the Dash property: hyphens, en and em dashes, the minus sign, full-width ones…) is one
// character to a person; confusables.txt maps most to '-' but the em dash and the horizontal bar to 'ー'.
const DASHES = /\p{Dash}/gu

// The first 10,000 of zxcvbn-ts's ranked list of common passwords (@zxcvbn-ts/language-common, MIT),
// in every form they are compared in (`seenAs`). Built once, when the module is first loaded.
const COMMON = new Set(dictionary['passwords-common'].slice(0, COMMON_PASSWORDS_REFUSED).flatMap((p) => seenAs(p)))

// The service's own names, in the form they are compared in (`compact`).
const SERVICE_NAMES = ['auth-service']
// A name that is a word (JWT_ISSUER such as "acme-auth"), not a URL: it is refused inside passwords too.
const PLAIN_WORD = /^[\p{L}\p{N}._-]+$/u
// Shorter names would refuse too many good passwords for little gain.
const MIN_SERVICE_NAME_LENGTH = 4

// The form passwords are compared in (not what is hashed): compatibility-decomposed, without marks and
// without what is not seen (above), then case-folded — upper-cased before lower-cased, so that ß is ss, and
// final ς is σ — and recomposed. So "password\u0301", " password", "pass\u200bword" and
// "\u3164password\u3164" are "password", "STRASSE" contains "straße", and "İstanbul" is "istanbul".
function fold (s: string): string {
  return s.normalize('NFKD').replace(/\p{M}/gu, '').replace(UNSEEN, '').toUpperCase().toLowerCase().replace(/ς/g, 'σ').normalize('NFKC')
}

// `step` applied until nothing changes: one or two rounds ('0' → 'O' → 'o'), eight at most.
function untilSettled (s: string, step: (s: string) => string): string {
  for (let i = 0; i < 8; i++) {
    const next = step(s)
    if (next === s) break
    s = next
  }
  return s
}

// The confusables skeleton of UTS #39 (usernames.ts) with every dash as '-'.
// (A declaration, not a const: COMMON, above, is built with it when the module loads.)
function skeletonOf (s: string): string {
  return skeleton(s.replace(DASHES, '-')).replace(DASHES, '-')
}

// What a password looks like, with look-alikes made one: `fold`, then the skeleton, folded again, until
// nothing changes. The skeleton is case-sensitive ('I' is 'l', 'i' stays 'i'), so it is taken of the
// password as typed and of its folded form too.
function settle (s: string): string {
  return untilSettled(fold(s), (current) => fold(skeletonOf(current)))
}

// The forms a password is compared in: folded; and its look-alike key (`settle`), from the password as
// typed (so 'lIlI' is 'llll': the skeleton of what is typed, before case folding can hide 'I' → 'l') and
// from the folded one (so 'ILOVEYOU' is 'iloveyou' first).
function seenAs (password: string): string[] {
  const folded = fold(password)
  const asTyped = untilSettled(password.replace(DASHES, '-'), skeletonOf)
  return [...new Set([folded, settle(asTyped), settle(folded)])]
}

// Made of one unit of `size` characters repeated ("abababab" for 2).
function repeats (s: string, size: number): boolean {
  const chars = [...s]
  return chars.length > size && chars.every((c, i) => c === chars[i % size])
}

// The characters of a password that count towards its length: those one sees. Not spaces (eight spaces
// are a blank), not invisible characters, not marks that sit on nothing (eight combining accents); the
// marks on a letter do count (Devanagari and others are written with them).
function seenLength (s: string): number {
  return codePoints(s.replace(UNSEEN, '').replace(LEADING_MARKS, ''))
}

// `fold`, and without anything but letters and digits: "Auth Service", "auth–service", "AUTH+SERVİCE" and
// "authservice" are all "authservice".
function compact (s: string): string {
  return fold(s).replace(/[^\p{L}\p{N}]/gu, '')
}

// A lone UTF-16 surrogate is not text: it would be hashed as U+FFFD, making different inputs one password.
const LONE_SURROGATE = /\p{Cs}/u

function codePoints (s: string): number {
  let n = 0
  for (const _ of s) n++ // eslint-disable-line @typescript-eslint/no-unused-vars
  return n
}

// The byte limit, for any password received (a login's, a current password): checked before anything
// else is done with it. `field` names it in the message.
export function passwordSizeProblem (password: string, field = 'password'): string | undefined {
  if (Buffer.byteLength(password, 'utf8') > PASSWORD_MAX_BYTES) return `${field} must be at most ${PASSWORD_MAX_BYTES} bytes (UTF-8)`
  return undefined
}

// The username inside the password once both are reduced to letters and digits ("b.o.b" holds "bob"),
// for names long enough that this is not a coincidence.
function containsCompact (password: string, username: string): boolean {
  const name = compact(username)
  return [...name].length >= 3 && compact(password).includes(name)
}

export interface PasswordPolicyOptions {
  minLength: number // at least PASSWORD_MIN_LENGTH_FLOOR
  // More names of the service (JWT_ISSUER): each is refused inside a password when it is a plain word.
  serviceNames?: string[]
  breached?: BreachedPasswords
}

export class PasswordPolicy {
  readonly minLength: number
  readonly #serviceNames: string[]
  readonly #breached?: BreachedPasswords

  constructor (options: PasswordPolicyOptions) {
    this.minLength = Math.max(PASSWORD_MIN_LENGTH_FLOOR, options.minLength)
    const names = [...SERVICE_NAMES, ...(options.serviceNames ?? []).filter((n) => PLAIN_WORD.test(n.normalize('NFKC')))]
    this.#serviceNames = [...new Set(names.map(compact).filter((n) => [...n].length >= MIN_SERVICE_NAME_LENGTH))]
    this.#breached = options.breached
  }

  // The rules that need nothing but the password and the name of its user: the first one broken, in
  // words for the person choosing it (never the password itself), or undefined.
  problem (password: string, username?: string): string | undefined {
    const size = passwordSizeProblem(password)
    if (size) return size
    if (LONE_SURROGATE.test(password)) return 'password must be valid Unicode text (it has a lone UTF-16 surrogate)'
    // U+FFFD is what bytes that are not UTF-8 become when the body is decoded: different inputs, one password.
    if (password.includes('\uFFFD')) return 'password must be valid Unicode text (it has bytes that are not UTF-8, or U+FFFD)'
    // The characters one sees (seenLength), counted both as typed and in the NFKC form that is hashed, the
    // shorter counting: one character that NFKC expands (ﷺ is 18 letters) is one character to type and to
    // guess.
    const length = Math.min(seenLength(password), seenLength(normalizePassword(password)))
    if (length < this.minLength) return `password must be at least ${this.minLength} characters, not counting spaces and invisible characters`
    const forms = seenAs(password)
    // "........", "aAaAaAaA", "é é é é é é é é", "АAΑАAΑАA" (three scripts), "lIlIlIlI", eight kinds of
    // dash; then two characters repeated ("abababab", ".,.,.,.,"): guessed as early as the list. Checked
    // first, so that "11111111" (listed, and "lIlIlIlI" to the skeleton) is told what it is.
    if (forms.some((f) => new Set(f).size < 2)) return 'password is one character repeated; choose another'
    if (forms.some((f) => repeats(f, 2))) return 'password is two characters repeated; choose another'
    if (forms.some((f) => COMMON.has(f))) return 'password is too common: it is one of the 10,000 most used passwords; choose another'
    if (username !== undefined && username !== '' && (fold(password).includes(fold(username)) || containsCompact(password, username))) {
      return 'password must not contain the username'
    }
    const compacted = compact(password)
    if (this.#serviceNames.some((name) => compacted.includes(name))) return "password must not contain the service's name"
    return undefined
  }

  // Every rule, the breached-password check included when it is configured (a request to its API) and
  // `breached` is not false (a password the service generated at random cannot be in a breach).
  async check (password: string, username?: string, { breached = true } = {}): Promise<string | undefined> {
    const problem = this.problem(password, username)
    if (problem) return problem
    if (breached && this.#breached && await this.#breached.listed(normalizePassword(password))) {
      return 'password appears in a known data breach (Have I Been Pwned); choose another'
    }
    return undefined
  }
}

type PolicyConfig = Pick<Config, 'PASSWORD_MIN_LENGTH' | 'JWT_ISSUER' | 'BREACHED_PASSWORD_CHECK' | 'BREACHED_PASSWORD_API_URL' | 'BREACHED_PASSWORD_TIMEOUT'>

// `warn` receives the one line logged when a breached-password check could not be made.
export function policyFromConfig (config: PolicyConfig, warn: (message: string) => void): PasswordPolicy {
  return new PasswordPolicy({
    minLength: config.PASSWORD_MIN_LENGTH,
    serviceNames: [config.JWT_ISSUER],
    breached: config.BREACHED_PASSWORD_CHECK
      ? new BreachedPasswords({ url: config.BREACHED_PASSWORD_API_URL, timeoutMs: config.BREACHED_PASSWORD_TIMEOUT * 1000, warn })
      : undefined
  })
}
