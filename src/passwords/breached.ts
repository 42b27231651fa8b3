import { createHash } from 'node:crypto'

// The k-anonymity range API of Have I Been Pwned's Pwned Passwords (or a mirror of it): the service sends
// the first 5 hex characters of the password's SHA-1 and gets back every listed suffix under that prefix,
// so neither the password nor its full hash ever leaves the service.
// https://haveibeenpwned.com/API/v3#SearchingPwnedPasswordsByRange
export interface BreachedPasswordOptions {
  url: string // the API's base: GET <url>/range/<PREFIX>
  timeoutMs: number
  // One line for each check that could not be made. It never carries the password, its hash or its prefix.
  warn: (message: string) => void
}

// Range answers are about 30 KB (with padding); anything much larger is not one.
const MAX_ANSWER_BYTES = 1024 * 1024
const LINE = /^([0-9A-F]{35}):(\d+)$/i

class NotARangeAnswer extends Error {}

export class BreachedPasswords {
  readonly #base: string
  readonly #timeoutMs: number
  readonly #warn: (message: string) => void

  constructor (options: BreachedPasswordOptions) {
    this.#base = options.url.replace(/\/+$/, '')
    this.#timeoutMs = options.timeoutMs
    this.#warn = options.warn
  }

  // Whether the password is listed (seen in at least one breach). Fails open: when the API cannot be
  // asked, or answers something that is not a range list, the password counts as not listed, and one
  // warning line says why (never with the password, its hash or its prefix).
  async listed (password: string): Promise<boolean> {
    const sha1 = createHash('sha1').update(password, 'utf8').digest('hex').toUpperCase()
    const prefix = sha1.slice(0, 5)
    const suffix = sha1.slice(5)
    try {
      const res = await fetch(`${this.#base}/range/${prefix}`, {
        headers: { 'add-padding': 'true', accept: 'text/plain' },
        signal: AbortSignal.timeout(this.#timeoutMs)
      })
      if (res.status !== 200) {
        await res.body?.cancel().catch(() => {})
        throw new NotARangeAnswer(`it answered HTTP ${res.status}`)
      }
      return rangeLists(await boundedText(res), suffix)
    } catch (err) {
      this.#warn(`breached-password check not made (${reason(err, this.#timeoutMs)}): the password was accepted without it`)
      return false
    }
  }
}

// `SUFFIX:COUNT` lines; padding lines (Add-Padding: true) have count 0 and list nothing.
function rangeLists (text: string, suffix: string): boolean {
  let listed = false
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (line === '') continue
    const match = LINE.exec(line)
    if (!match) throw new NotARangeAnswer('its answer is not a range list')
    if (match[1].toUpperCase() === suffix && Number(match[2]) > 0) listed = true
  }
  return listed
}

async function boundedText (res: Response): Promise<string> {
  if (!res.body) return ''
  const chunks: Uint8Array[] = []
  let size = 0
  for await (const chunk of res.body) {
    size += chunk.byteLength
    if (size > MAX_ANSWER_BYTES) throw new NotARangeAnswer('its answer is larger than 1 MiB')
    chunks.push(chunk)
  }
  return Buffer.concat(chunks).toString('utf8')
}

// Why the check could not be made, in words that never include the request's URL (which holds the prefix).
function reason (err: unknown, timeoutMs: number): string {
  if (err instanceof NotARangeAnswer) return `the breached-password API: ${err.message}`
  const e = err as { name?: string, cause?: { code?: unknown } }
  if (e.name === 'TimeoutError') return `the breached-password API did not answer within ${Math.round(timeoutMs) / 1000} s`
  const code = e.cause?.code
  if (typeof code === 'string' && /^[A-Z0-9_]+$/.test(code)) return `the breached-password API cannot be reached: ${code}`
  return `the breached-password API cannot be reached: ${typeof e.name === 'string' ? e.name : 'error'}`
}
