import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'

export interface PackageInfo { name: string, version: string, description?: string }

// The service's own package.json (name, version, description), found from this module upwards: src/ in
// the source tree, dist/src/ in the build.
export function packageInfo (from = import.meta.dirname): PackageInfo {
  for (let dir = from; ; dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Partial<PackageInfo>
      if (typeof pkg.name === 'string' && typeof pkg.version === 'string') return { name: pkg.name, version: pkg.version, description: pkg.description }
    } catch {}
    if (dirname(dir) === dir) throw new Error(`no package.json above ${from}`)
  }
}
