import {copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'

import {parseCatalog, templatesDir} from '../../../src/lib/catalog/index.js'
import {type CompiledCatalog, matchEntry, readCompiledCatalog, templateFiles} from '../../../src/lib/catalog/store.js'
import {ROOT} from '../../support/cli.js'

/** A catalog directory with two shipped templates and its compiled form, as scripts/bundle.mjs writes it. */
function fixture(): {dir: string; compiled: string} {
  const dir = mkdtempSync(join(tmpdir(), 'aip-catalog-'))
  for (const f of ['qwen3-8b.yaml', 'llama-guard-3-1b.yaml']) copyFileSync(join(templatesDir(), f), join(dir, f))
  const files: CompiledCatalog['files'] = {}
  for (const e of parseCatalog(dir)) {
    const f = templateFiles(dir).find((x) => x.startsWith(`${e.name}.`))!
    files[f] = {text: readFileSync(join(dir, f), 'utf8'), entry: e}
  }
  const compiled = join(dir, 'compiled.json')
  writeFileSync(compiled, JSON.stringify({files}))
  return {dir, compiled}
}

describe('compiled catalog', () => {
  it('gives the parsed entries, in catalog order, while every template has the text it was compiled from', () => {
    const {dir, compiled} = fixture()
    expect(readCompiledCatalog(dir, compiled)).toEqual(parseCatalog(dir))
    expect(readCompiledCatalog(dir, compiled)!.map((e) => e.name)).toEqual(['llama-guard-3-1b', 'qwen3-8b'])
  })

  it('is not used once a template is edited, added or removed, or when it is unreadable', () => {
    let {dir, compiled} = fixture()
    writeFileSync(join(dir, 'qwen3-8b.yaml'), readFileSync(join(dir, 'qwen3-8b.yaml'), 'utf8').replace('maxNumSeqs:', 'maxNumSeqs:  '))
    expect(readCompiledCatalog(dir, compiled)).toBeUndefined()
    ;({dir, compiled} = fixture())
    copyFileSync(join(templatesDir(), 'mistral-7b-instruct-v0.3.yaml'), join(dir, 'mistral-7b-instruct-v0.3.yaml'))
    expect(readCompiledCatalog(dir, compiled)).toBeUndefined()
    ;({dir, compiled} = fixture())
    rmSync(join(dir, 'qwen3-8b.yaml'))
    expect(readCompiledCatalog(dir, compiled)).toBeUndefined()
    ;({dir, compiled} = fixture())
    writeFileSync(compiled, '{"files": ')
    expect(readCompiledCatalog(dir, compiled)).toBeUndefined()
    expect(readCompiledCatalog(dir, join(dir, 'missing.json'))).toBeUndefined()
  })

  it('the build wrote dist/catalog.json for the shipped catalog, equal to parsing it', () => {
    const path = join(ROOT, 'dist', 'catalog.json')
    expect(existsSync(path), 'dist/catalog.json (npm run build)').toBe(true)
    expect(readCompiledCatalog(templatesDir(), path)).toEqual(parseCatalog(templatesDir()))
  })

  it('matches names as getCatalogEntry does: exact, then lower-case name or Hub repo id', () => {
    const {dir, compiled} = fixture()
    const entries = readCompiledCatalog(dir, compiled)!
    expect(matchEntry(entries, 'qwen3-8b')?.name).toBe('qwen3-8b')
    expect(matchEntry(entries, 'QWEN3-8B')?.name).toBe('qwen3-8b')
    expect(matchEntry(entries, 'qwen/qwen3-8b')?.name).toBe('qwen3-8b')
    expect(matchEntry(entries, 'qwen3')).toBeUndefined()
  })
})
