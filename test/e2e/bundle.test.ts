// The CI check that the built bundle has no import that fails at run time. Unit tests import the
// TypeScript sources, so a bundling mistake passes them: esbuild turns `await import('yaml')` (a
// CommonJS package) into a chunk whose only export is `default`, and `const {stringify} = await
// import('yaml')` then throws `stringify is not a function` in the built CLI only. This test
//  1. loads every file of dist/commands, dist/hooks, dist/chunks and dist/fast (Node links their static
//     imports: a missing named export fails the load), and
//  2. reads every dynamic `import("./x.js")` in them and checks that each name taken from it
//     (`const {a, b: c} = await import(...)`, or `m.a` after `const m = await import(...)`) is an
//     export of the module it loads.
import {readdirSync, readFileSync, statSync} from 'node:fs'
import {dirname, join, relative, resolve} from 'node:path'
import {pathToFileURL} from 'node:url'
import {describe, expect, it} from 'vitest'

import {ROOT} from '../support/cli.js'

const DIST = join(ROOT, 'dist')

function jsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f)
    return statSync(p).isDirectory() ? jsFiles(p) : p.endsWith('.js') ? [p] : []
  })
}

interface DynamicUse {
  file: string
  target: string
  names: string[]
}

/** Names each file takes from the relative modules it imports dynamically. */
export function dynamicUses(file: string, text: string): DynamicUse[] {
  const out: DynamicUse[] = []
  // const {a, b: c} = await import("./x.js")
  for (const m of text.matchAll(/(?:const|let|var)\s*\{([^}]*)\}\s*=\s*await\s+import\(\s*["'](\.[^"']+)["']\s*\)/g)) {
    const names = m[1]
      .split(',')
      .map((s) => s.trim().split(':')[0].trim())
      .filter((s) => s && !s.startsWith('...'))
    out.push({file, target: resolve(dirname(file), m[2]), names})
  }
  // const m = await import("./x.js"); ... m.a
  for (const m of text.matchAll(/(?:const|let|var)\s+([A-Za-z_$][\w$]*)\s*=\s*await\s+import\(\s*["'](\.[^"']+)["']\s*\)/g)) {
    const v = m[1].replace(/\$/g, '\\$')
    const names = [...new Set([...text.matchAll(new RegExp(`(?<![\\w$./"'])${v}\\.([A-Za-z_$][\\w$]*)`, 'g'))].map((x) => x[1]))]
    out.push({file, target: resolve(dirname(file), m[2]), names})
  }
  return out
}

describe('the built bundle (dist/)', () => {
  const files = ['commands', 'hooks', 'chunks', 'fast'].flatMap((d) => jsFiles(join(DIST, d)))

  it('finds the bundle', () => {
    expect(files.filter((f) => f.includes(`${join('dist', 'commands')}`)).length).toBeGreaterThan(5)
    expect(files.filter((f) => f.includes(`${join('dist', 'chunks')}`)).length).toBeGreaterThan(5)
  })

  it('loads every command, hook and chunk (static imports link)', async () => {
    const failed: string[] = []
    for (const f of files) {
      await import(pathToFileURL(f).href).catch((error: Error) => failed.push(`${relative(ROOT, f)}: ${error.message}`))
    }
    expect(failed).toEqual([])
  })

  it('every name taken from a dynamic import is an export of the chunk it loads', async () => {
    const missing: string[] = []
    let checked = 0
    for (const f of files) {
      for (const use of dynamicUses(f, readFileSync(f, 'utf8'))) {
        const mod = (await import(pathToFileURL(use.target).href)) as Record<string, unknown>
        for (const n of use.names) {
          checked++
          if (!(n in mod)) missing.push(`${relative(ROOT, use.file)}: "${n}" is not exported by ${relative(ROOT, use.target)} (exports: ${Object.keys(mod).join(', ')})`)
        }
      }
    }
    expect(missing).toEqual([])
    expect(checked).toBeGreaterThan(10)
  })

  it('the check itself sees a destructured name missing from a default-only chunk', () => {
    const uses = dynamicUses('/x/dist/chunks/a.js', 'const { stringify } = await import("./dist-ABC.js");\nconst kube = await import("./kube.js"); kube.applyObjects(kube.x)')
    expect(uses).toEqual([
      {file: '/x/dist/chunks/a.js', target: '/x/dist/chunks/dist-ABC.js', names: ['stringify']},
      {file: '/x/dist/chunks/a.js', target: '/x/dist/chunks/kube.js', names: ['applyObjects', 'x']},
    ])
  })
})
