import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, statSync } from 'node:fs'
import { basename, dirname, resolve } from 'node:path'

// Files the service writes (the database, its WAL and SHM, the generated admin password, …) hold password
// hashes, private signing keys and the service's secrets: they are created 0600 in a folder created 0700,
// and loose modes found on them at start are tightened. What was done, or could not be, is reported to the
// caller (which logs it), never silently.
export interface FileNotice { level: 'info' | 'warn', path: string, message: string }
export type Report = (notice: FileNotice) => void

const PRIVATE_FILE = 0o600
const PRIVATE_DIR = 0o700
const STICKY = 0o1000

const loose = (mode: number) => (mode & 0o077) !== 0
const octal = (mode: number) => (mode & 0o777).toString(8).padStart(3, '0')

// Makes sure `dir` exists and is private. A folder the service creates is 0700. An existing folder that
// group or others can enter is tightened only when it is the service's own — owned by this user, not
// sticky (as shared temporary folders are), and holding nothing but `ownNames` — otherwise a warning.
export function privateDir (dir: string, ownNames: (name: string) => boolean, report: Report): void {
  const path = resolve(dir)
  if (!existsSync(path)) {
    mkdirSync(path, { recursive: true, mode: PRIVATE_DIR })
    chmodSync(path, PRIVATE_DIR) // the mode given to mkdir is masked by the umask
    return
  }
  const stat = statSync(path)
  if (!loose(stat.mode)) return
  const own = stat.uid === process.getuid?.() && (stat.mode & STICKY) === 0 && readdirSync(path).every(ownNames)
  if (own) {
    chmodSync(path, PRIVATE_DIR)
    report({ level: 'info', path, message: `tightened the service's folder ${path} from ${octal(stat.mode)} to 700` })
  } else {
    report({ level: 'warn', path, message: `the folder ${path} is ${octal(stat.mode)}: other users may list it; the service's files in it are 0600, but a folder of its own (0700) is safer` })
  }
}

// Makes sure `file` is 0600: created empty with that mode when `create` and absent, tightened if looser.
export function privateFile (file: string, report: Report, create = false): void {
  const path = resolve(file)
  if (!existsSync(path)) {
    if (create) closeSync(openSync(path, 'a', PRIVATE_FILE))
    if (!create) return
  }
  const mode = statSync(path).mode
  if ((mode & 0o777) === PRIVATE_FILE) return
  chmodSync(path, PRIVATE_FILE)
  if (loose(mode)) report({ level: 'info', path, message: `tightened ${path} from ${octal(mode)} to 600` })
}

// The SQLite database at `file` and the files SQLite keeps beside it: private before SQLite opens them
// (SQLite gives its WAL, SHM and journal the database file's own mode when it creates them).
export function privateDatabaseFiles (file: string, report: Report): void {
  const name = basename(file)
  privateDir(dirname(file), (entry) => entry.startsWith(name) || entry === 'admin-password.txt', report)
  privateFile(file, report, true)
  for (const suffix of ['-wal', '-shm', '-journal']) privateFile(file + suffix, report)
}
