import { chmodSync, closeSync, constants, existsSync, fstatSync, ftruncateSync, lstatSync, mkdirSync, openSync, readdirSync, statSync, writeSync } from 'node:fs'
import { basename, dirname, resolve } from 'node:path'

// Files the service writes (the database, its WAL and SHM, the generated admin password, …) hold password
// hashes, private signing keys and the service's secrets: they are created 0600 in a folder created 0700,
// and loose modes found on them at start are tightened. A file that is a symbolic link, or belongs to
// another user, is refused: in a shared folder someone else could have made it first, to read what the
// service writes into it, or to point it at a file the service would then overwrite. What was done is
// reported to the caller (which logs it), never silently.
interface FileNotice { level: 'info' | 'warn', path: string, message: string }
export type Report = (notice: FileNotice) => void

class PrivateFileError extends Error {}

const PRIVATE_FILE = 0o600
const PRIVATE_DIR = 0o700
const STICKY = 0o1000
const CREATE_PRIVATE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW

const loose = (mode: number) => (mode & 0o077) !== 0
const octal = (mode: number) => (mode & 0o777).toString(8).padStart(3, '0')
const mine = (uid: number) => process.getuid === undefined || uid === process.getuid()

// Makes sure `dir` exists and is private. A folder the service creates is 0700. An existing folder that
// group or others can enter is tightened only when it is the service's own — owned by this user, not
// sticky (as shared temporary folders are), and holding nothing but `ownNames` — otherwise a warning.
export function privateDir (dir: string, ownNames: (name: string) => boolean, report: Report): void {
  const path = resolve(dir)
  if (!existsSync(path)) {
    makeDirs(path)
    chmodSync(path, PRIVATE_DIR) // the mode given to mkdir is masked by the umask
    return
  }
  const stat = statSync(path)
  if (!stat.isDirectory()) throw new PrivateFileError(`${path} is not a folder`)
  if (!loose(stat.mode)) return
  const own = mine(stat.uid) && (stat.mode & STICKY) === 0 && readdirSync(path).every(ownNames)
  if (own) {
    chmodSync(path, PRIVATE_DIR)
    report({ level: 'info', path, message: `tightened the service's folder ${path} from ${octal(stat.mode)} to 700` })
  } else {
    report({ level: 'warn', path, message: `the folder ${path} is ${octal(stat.mode)}: other users may list it; the service's files in it are its own and 0600, but a folder of its own (0700) is safer` })
  }
}

// Creates `path` and any missing folder above it, one level at a time. Not mkdirSync's `recursive`: in
// Node (20 and 24 alike) it spins for ever, at full CPU, where mkdir answers ENOENT although the parent
// exists (under /proc, for one): `DATABASE_URL=sqlite:/proc/x/auth.db` hung the start without a line.
// Here any folder that cannot be made is an error naming it, which stops the start (or the CLI) in one line.
function makeDirs (path: string): void {
  const parent = dirname(path)
  if (parent !== path && !existsSync(parent)) makeDirs(parent)
  try {
    mkdirSync(path, { mode: PRIVATE_DIR })
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EEXIST' && isFolder(path)) return // made meanwhile (by another instance)
    const reason = code === 'ENOTDIR'
      ? `${parent} is not a folder`
      : code === 'EEXIST' ? `${path} is there and is not a folder` : (err as Error).message.replace(/, mkdir '.*'$/, '')
    throw new PrivateFileError(`cannot create the folder ${path}: ${reason}`)
  }
}

const isFolder = (path: string) => { try { return statSync(path).isDirectory() } catch { return false } }

// Makes sure `file` is the service's own private file: created empty and 0600 (never through a link, never
// over a file that appeared meanwhile) when `create` and absent; if present, refused unless it is a
// regular file of this user with no other name (hard link), and tightened to 0600 if looser. Returns whether the file exists now.
export function privateFile (file: string, report: Report, create = false): boolean {
  const path = resolve(file)
  if (create) {
    try {
      closeSync(openSync(path, CREATE_PRIVATE, PRIVATE_FILE))
      chmodSync(path, PRIVATE_FILE) // the mode given to open is masked by the umask
      return true
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
  }
  let stat
  try {
    stat = lstatSync(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw err
  }
  if (!stat.isFile()) throw new PrivateFileError(`${path} is not a regular file (a symbolic link?): refusing to use it`)
  if (!mine(stat.uid)) throw new PrivateFileError(`${path} belongs to another user (uid ${stat.uid}): refusing to use it`)
  // A second name for the file (a hard link someone else made, to a file of this user's elsewhere).
  if (stat.nlink !== 1) throw new PrivateFileError(`${path} has ${stat.nlink} names (hard links): refusing to use it`)
  if ((stat.mode & 0o777) !== PRIVATE_FILE) {
    chmodSync(path, PRIVATE_FILE)
    if (loose(stat.mode)) report({ level: 'info', path, message: `tightened ${path} from ${octal(stat.mode)} to 600` })
  }
  return true
}

// Writes `content` to `file`, a private file of the service's own (see privateFile): opened without
// following a link and checked before anything is truncated or written.
export function writePrivateFile (file: string, content: string, report: Report): void {
  privateFile(file, report, true)
  const fd = openSync(resolve(file), constants.O_WRONLY | constants.O_NOFOLLOW)
  try {
    const stat = fstatSync(fd)
    if (!stat.isFile() || !mine(stat.uid) || stat.nlink !== 1) throw new PrivateFileError(`${resolve(file)} changed under the service: refusing to write it`)
    ftruncateSync(fd, 0)
    writeSync(fd, content)
  } finally {
    closeSync(fd)
  }
}

// The SQLite database at `file` and the files SQLite keeps beside it, made private before SQLite opens
// them. The WAL and SHM are created here too (empty, which SQLite accepts), so that no one else can make
// them first; SQLite would give them the database file's own mode anyway.
export function privateDatabaseFiles (file: string, report: Report): void {
  const name = basename(file)
  privateDir(dirname(file), (entry) => entry.startsWith(name) || entry === 'admin-password.txt', report)
  privateFile(file, report, true)
  privateFile(file + '-wal', report, true)
  privateFile(file + '-shm', report, true)
  privateFile(file + '-journal', report)
}
