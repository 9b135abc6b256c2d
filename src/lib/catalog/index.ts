import {existsSync, readFileSync, statSync} from 'node:fs'
import {basename, join} from 'node:path'
import {parseDocument} from 'yaml'

import {NotFoundError, UsageError} from '../errors.js'
import {suggest} from '../suggest.js'
import {type CatalogEntry, CatalogEntrySchema, COMMIT_SHA, formatIssues} from './schema.js'
import {compiledCatalog, matchEntry, resetStore, sortEntries, templateFiles, templatesDir} from './store.js'

export * from './schema.js'
export {templatesDir} from './store.js'

/**
 * The model catalog: templates/models/*.yaml shipped with the package, parsed (yaml) and validated
 * (zod) here; the build compiles them into dist/catalog.json, which store.ts reads when current.
 */

/** Parses and validates one template file; schema failures name the file, the field path and the reason. */
export function loadTemplateFile(path: string): CatalogEntry {
  if (!existsSync(path)) {
    throw new NotFoundError(`template file ${path} does not exist`, {fix: 'pass the path of a model template YAML file (see templates/models/ for examples)'})
  }
  const st = statSync(path)
  if (!st.isFile()) {
    throw new UsageError(`template ${path} is ${st.isDirectory() ? 'a directory' : 'not a regular file'}`, {fix: 'pass the template YAML file itself, e.g. templates/models/qwen3-8b.yaml'})
  }
  return parseTemplateText(readFileSync(path, 'utf8'), path)
}

/** Validates template text (`where` names it in errors). */
export function parseTemplateText(text: string, where: string): CatalogEntry {
  const doc = parseDocument(text, {uniqueKeys: true})
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!
    const line = e.linePos?.[0]?.line
    throw new UsageError(`${where}${line ? `:${line}` : ''} is not valid YAML: ${e.message.split('\n')[0]}`, {fix: `fix the YAML syntax in ${where}`})
  }
  const data: unknown = doc.toJS({maxAliasCount: 100})
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new UsageError(`${where} must be a YAML mapping of a model entry (name, hf, vllm, gpu, ...)`, {fix: 'start from one of the files in templates/models/'})
  }
  const parsed = CatalogEntrySchema.safeParse(data)
  if (!parsed.success) {
    const issues = formatIssues(parsed.error)
    throw new UsageError(`${where}: ${issues[0]}${issues.length > 1 ? ` (and ${issues.length - 1} more)` : ''}`, {
      fix: `correct ${issues.length > 1 ? 'these fields' : 'this field'} in ${where}`,
      details: {file: where, issues},
    })
  }
  return parsed.data
}

let catalogCache: CatalogEntry[] | undefined

/** Every catalog entry, sorted by name. A broken shipped template is a usage error naming it. */
export function listCatalog(): CatalogEntry[] {
  catalogCache ??= compiledCatalog() ?? parseCatalog(templatesDir())
  return catalogCache
}

/** Parses and validates every template of `dir` (what the build compiles into dist/catalog.json). */
export function parseCatalog(dir: string): CatalogEntry[] {
  const entries = templateFiles(dir).map((f) => {
    const entry = loadTemplateFile(join(dir, f))
    const stem = basename(f).replace(/\.ya?ml$/, '')
    if (entry.name !== stem) {
      throw new UsageError(`${join(dir, f)}: name: "${entry.name}" must match the file name "${stem}"`, {fix: `rename the file or set name: ${stem}`})
    }
    return entry
  })
  return sortEntries(entries)
}

export function catalogNames(): string[] {
  return listCatalog().map((e) => e.name)
}

/**
 * One entry by name; unknown names are NotFoundError (exit 4) suggesting the closest names.
 * `otherwise`: what else the command takes for MODEL, for the fix (commands differ: only
 * `model deploy` takes --template).
 */
export function getCatalogEntry(name: string, otherwise = 'use --template FILE or hf:ORG/REPO'): CatalogEntry {
  const entries = listCatalog()
  const hit = matchEntry(entries, name)
  if (hit) return hit
  const names = entries.map((e) => e.name)
  const near = suggest(name, names, 3)
  throw new NotFoundError(`model "${name}" is not in the catalog`, {
    fix: near.length > 0 ? `did you mean ${near.map((n) => `"${n}"`).join(' or ')}? (\`aip model list\` shows the catalog)` : `known models: ${names.join(', ')}; or ${otherwise}`,
    details: {suggestions: near},
  })
}

/** True when the entry pins its Hub revision to a commit sha (reproducible deploys). */
export function isPinned(entry: Pick<CatalogEntry, 'hf'>): boolean {
  return COMMIT_SHA.test(entry.hf.revision)
}

/** For tests: forget cached catalog state. */
export function resetCatalogCache(): void {
  catalogCache = undefined
  resetStore()
}
