import {existsSync, readFileSync} from 'node:fs'
import {homedir} from 'node:os'
import {dirname, join} from 'node:path'
import {fileURLToPath} from 'node:url'

let root: string | undefined

/**
 * The aip package's root (where package.json and templates/ live), found by walking up from this
 * module, so it holds for src/ (tests), dist/ (tsc output), the bundled dist/chunks/ and an
 * npm-installed or linked package alike.
 */
export function packageRoot(): string {
  if (root) return root
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 8; i++) {
    const pkg = join(dir, 'package.json')
    if (existsSync(pkg) && existsSync(join(dir, 'templates'))) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as {name?: string}).name === 'aip') return (root = dir)
      } catch {
        // not ours; keep walking
      }
    }
    const parent = dirname(dir)
    if (parent === dir) break
    dir = parent
  }
  throw new Error('cannot find the aip package root (package.json with templates/)')
}

/** templates/<kind> of the package (kind: models | platform | jobs). */
export function templatesPath(kind: 'models' | 'platform' | 'jobs'): string {
  return join(packageRoot(), 'templates', kind)
}

/**
 * aip's cache directory: $XDG_CACHE_HOME/aip, else ~/.cache/aip (bin/run.js puts the module compile
 * cache there too). Holds data that can be fetched again (AWS prices); never secrets.
 */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.XDG_CACHE_HOME) return join(env.XDG_CACHE_HOME, 'aip')
  return join(env.HOME || homedir(), '.cache', 'aip')
}
