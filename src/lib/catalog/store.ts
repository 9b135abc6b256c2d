/**
 * The light half of the catalog: where templates/models lives, and the catalog as the build
 * compiled it (dist/catalog.json: each template's text with its validated entry). No YAML parser,
 * no schema library: `aip gpu-fit <catalog name>` reads one JSON file instead of parsing every
 * template (about half of its start-up before; bench/startup.mjs). The compiled entry is used only
 * when the template file on disk has exactly the text it was compiled from, so an edited,
 * added or removed template (or AIP_TEMPLATES_DIR pointing elsewhere) goes through the full parse.
 */
import {existsSync, readdirSync, readFileSync} from 'node:fs'
import {join, resolve, sep} from 'node:path'
import {fileURLToPath} from 'node:url'

import {NotFoundError} from '../errors.js'
import {packageRoot, templatesPath} from '../paths.js'
import type {CatalogEntry} from './schema.js'

/** dist/catalog.json: what scripts/bundle.mjs writes, in catalog order (sortEntries). */
export interface CompiledCatalog {
  files: Record<string, {text: string; entry: CatalogEntry}>
}

let templatesDirCache: string | undefined
let compiledCache: {path: string; dir: string; entries: CatalogEntry[] | undefined} | undefined

/**
 * templates/models of this package, found by walking up from this module (src/lib/catalog or
 * dist/lib/catalog), so it works from a checkout, from dist/ and from an npm-installed or linked package.
 */
export function templatesDir(): string {
  if (templatesDirCache) return templatesDirCache
  const override = process.env.AIP_TEMPLATES_DIR
  if (override) return resolve(override)
  try {
    templatesDirCache = templatesPath('models')
    if (existsSync(templatesDirCache)) return templatesDirCache
  } catch {
    // fall through to the error below
  }
  throw new NotFoundError('the model catalog (templates/models) was not found next to the aip package', {fix: 'reinstall aip; the package must ship its templates/ folder'})
}

/** The template files of a catalog directory, sorted. */
export function templateFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.yaml') || f.endsWith('.yml'))
    .sort()
}

/** Entries sorted as the catalog lists them. */
export function sortEntries(entries: CatalogEntry[]): CatalogEntry[] {
  return entries.sort((a, b) => a.name.localeCompare(b.name))
}

/**
 * dist/catalog.json when this code runs from the build (dist/), where the build wrote it next to
 * the code that validated it; undefined when it runs from src/ (tests), where a compiled catalog
 * could be older than the schema.
 */
export function compiledCatalogPath(): string | undefined {
  try {
    const dist = join(packageRoot(), 'dist')
    return fileURLToPath(import.meta.url).startsWith(dist + sep) ? join(dist, 'catalog.json') : undefined
  } catch {
    return undefined
  }
}

/**
 * The catalog of `dir` from a compiled catalog: every template file there must have exactly the
 * text it was compiled from (same set of files too); otherwise undefined (parse the files instead).
 */
export function readCompiledCatalog(dir: string, path: string): CatalogEntry[] | undefined {
  let compiled: CompiledCatalog
  try {
    compiled = JSON.parse(readFileSync(path, 'utf8')) as CompiledCatalog
    const files = templateFiles(dir)
    const names = Object.keys(compiled?.files ?? {})
    if (files.length !== names.length || files.some((f) => !names.includes(f))) return undefined
    // the compiled order is the catalog's (sorting here would load ICU's collator: ~10% of gpu-fit)
    const entries: CatalogEntry[] = []
    for (const f of names) {
      const c = compiled.files[f]!
      if (readFileSync(join(dir, f), 'utf8') !== c.text) return undefined
      entries.push(c.entry)
    }
    return entries
  } catch {
    return undefined
  }
}

/** The compiled catalog of the templates directory in use, when it is current (cached per process). */
export function compiledCatalog(): CatalogEntry[] | undefined {
  const path = compiledCatalogPath()
  if (!path) return undefined
  let dir: string
  try {
    dir = templatesDir()
  } catch {
    return undefined
  }
  if (compiledCache?.path !== path || compiledCache.dir !== dir) compiledCache = {path, dir, entries: readCompiledCatalog(dir, path)}
  return compiledCache.entries
}

/** The entry NAME means: its catalog name, else (ignoring case) its name or its Hub repo id. */
export function matchEntry(entries: CatalogEntry[], name: string): CatalogEntry | undefined {
  return entries.find((e) => e.name === name) ?? entries.find((e) => e.name === name.toLowerCase() || e.hf.repo.toLowerCase() === name.toLowerCase())
}

/** The entry from the compiled catalog, or undefined (not compiled, out of date, or no such name). */
export function findCompiledEntry(name: string): CatalogEntry | undefined {
  const entries = compiledCatalog()
  return entries ? matchEntry(entries, name) : undefined
}

/** For tests: forget cached state. */
export function resetStore(): void {
  templatesDirCache = undefined
  compiledCache = undefined
}
