// Usernames are stored NFKC-normalised, so that visually identical names are one name, and compared
// case-folded, so that "Alice" and "alice" cannot both exist.
export const USERNAME_MIN_LENGTH = 3
export const USERNAME_MAX_LENGTH = 64
const ALLOWED = /^[\p{L}\p{N}._@-]+$/u

export function normalizeUsername (name: string): string {
  return name.normalize('NFKC')
}

export function usernameKey (name: string): string {
  return normalizeUsername(name).toLowerCase()
}

export function usernameProblem (name: string): string | undefined {
  const n = normalizeUsername(name)
  const length = [...n].length
  if (length < USERNAME_MIN_LENGTH || length > USERNAME_MAX_LENGTH) {
    return `username must be ${USERNAME_MIN_LENGTH} to ${USERNAME_MAX_LENGTH} characters`
  }
  if (!ALLOWED.test(n)) return 'username may contain only letters, digits and . _ @ -'
  return undefined
}
