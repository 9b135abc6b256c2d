import {randomBytes} from 'node:crypto'
import {mkdirSync, readFileSync, renameSync, statSync, writeFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {homedir} from 'node:os'
import {dirname, join, resolve} from 'node:path'
import type {YAMLParseError} from 'yaml'

import {UsageError} from '../errors.js'
import {refuseUrlCredentials, withoutCredentials} from '../http/url.js'
import {closest} from '../suggest.js'
import {CONFIG_KEYS, type ConfigValue, type KeyDef, keyDef, KEY_NAMES} from './keys.js'
import {parseDuration} from './parse.js'

/**
 * The YAML library costs about a fifth of oclif's own start-up; load it only when a config file
 * exists (most CI runs have none), synchronously, since resolution is synchronous.
 */
function yamlLib(): typeof import('yaml') {
  return createRequire(import.meta.url)('yaml') as typeof import('yaml')
}
function parseDocument(text: string) {
  return yamlLib().parseDocument(text)
}

export * from './keys.js'
export * from './parse.js'

export type Source = 'flag' | `env:${string}` | `file:${string}` | 'default' | 'unset'

export interface Resolved {
  key: string
  value: ConfigValue | undefined
  source: Source
  description: string
  secret: boolean
}

export interface ResolveInput {
  flags?: Record<string, unknown>
  env?: NodeJS.ProcessEnv
  cwd?: string
  home?: string
}

export interface ConfigPaths {
  local: string
  global: string
}

export function configPaths(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd(), home = homedir()): ConfigPaths {
  const xdg = env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME !== '' ? env.XDG_CONFIG_HOME : join(env.HOME || home, '.config')
  return {
    local: resolve(cwd, 'aip.yaml'),
    global: env.AIP_CONFIG ? resolve(cwd, env.AIP_CONFIG) : join(xdg, 'aip', 'config.yaml'),
  }
}

/** Coerces and validates one raw value for a key; throws a UsageError naming the key and the fix. */
export function coerce(def: KeyDef, raw: unknown, where: string): ConfigValue {
  let v: ConfigValue
  if (def.type === 'number') {
    v = typeof raw === 'number' ? raw : Number(String(raw).trim())
    if (!Number.isFinite(v)) throw new UsageError(`${def.key} from ${where} is not a number: "${String(raw)}"`, {fix: `set ${def.key} to a number, e.g. ${def.default ?? 1}`})
  } else if (typeof raw === 'string' || typeof raw === 'number' || typeof raw === 'boolean') {
    v = String(raw)
  } else {
    throw new UsageError(`${def.key} from ${where} must be a scalar, got ${JSON.stringify(raw)}`, {fix: `set ${def.key} to a single value`})
  }
  if (def.type === 'duration') parseDuration(String(v), `${def.key} from ${where}`)
  if (def.type === 'url') {
    let u: URL | undefined
    try {
      u = new URL(String(v))
    } catch {
      u = undefined
    }
    if (!u || !/^https?:$/.test(u.protocol)) {
      throw new UsageError(`${def.key} from ${where} is not an http(s) URL: "${withoutCredentials(String(v))}"`, {fix: `set ${def.key} to a URL such as http://127.0.0.1:9090`})
    }
    refuseUrlCredentials(u, `${def.key} from ${where}`)
    v = String(v).replace(/\/+$/, '')
  }
  const problem = def.validate?.(v)
  if (problem) throw new UsageError(`${def.key} from ${where} ${problem}`, {fix: `correct ${def.key} in ${where}`})
  return v
}

/** Reads a config file into a plain map; a missing file is empty, a malformed one is a usage error. */
export function readConfigFile(path: string): Record<string, unknown> {
  const st = statSync(path, {throwIfNoEntry: false})
  if (!st) return {}
  if (!st.isFile()) throw new UsageError(`config file ${path} is not a file (a ${st.isDirectory() ? 'directory' : 'special file'})`, {fix: `remove or rename ${path}; aip reads its configuration from a YAML file there`})
  const text = readFileSync(path, 'utf8')
  const doc = parseDocument(text)
  if (doc.errors.length > 0) {
    const e = doc.errors[0] as YAMLParseError
    const line = e.linePos?.[0]?.line
    throw new UsageError(`config file ${path} is not valid YAML${line ? ` (line ${line})` : ''}: ${e.message.split('\n')[0]}`, {fix: `fix or remove ${path}`})
  }
  const data: unknown = doc.toJS()
  if (data === null || data === undefined) return {}
  if (typeof data !== 'object' || Array.isArray(data)) {
    throw new UsageError(`config file ${path} must be a mapping of key: value`, {fix: `see \`aip config view\` for the keys`})
  }
  for (const k of Object.keys(data)) {
    if (!keyDef(k)) {
      const near = closest(k, KEY_NAMES)
      throw new UsageError(`unknown key "${k}" in ${path}`, {fix: near ? `did you mean "${near}"?` : `known keys: ${KEY_NAMES.join(', ')}`})
    }
  }
  return data as Record<string, unknown>
}

/** Effective configuration with the source of every value. */
export function resolveConfig(input: ResolveInput = {}): Map<string, Resolved> {
  const env = input.env ?? process.env
  const paths = configPaths(env, input.cwd ?? process.cwd(), input.home ?? homedir())
  const local = readConfigFile(paths.local)
  const global = readConfigFile(paths.global)
  const out = new Map<string, Resolved>()
  for (const def of CONFIG_KEYS) {
    const base = {key: def.key, description: def.description, secret: Boolean(def.secret)}
    const flag = input.flags?.[def.key]
    if (flag !== undefined && flag !== null && flag !== '') {
      out.set(def.key, {...base, value: coerce(def, flag, `--${def.flag ?? def.key}`), source: 'flag'})
      continue
    }
    const envName = def.env.find((n) => env[n] !== undefined && env[n] !== '')
    if (envName) {
      out.set(def.key, {...base, value: coerce(def, env[envName], `$${envName}`), source: `env:${envName}`})
      continue
    }
    if (local[def.key] !== undefined && local[def.key] !== null) {
      out.set(def.key, {...base, value: coerce(def, local[def.key], paths.local), source: `file:${paths.local}`})
      continue
    }
    if (global[def.key] !== undefined && global[def.key] !== null) {
      out.set(def.key, {...base, value: coerce(def, global[def.key], paths.global), source: `file:${paths.global}`})
      continue
    }
    out.set(def.key, {...base, value: def.default, source: def.default === undefined ? 'unset' : 'default'})
  }
  return out
}

/** Typed accessor over a resolved configuration. */
export class AipConfig {
  constructor(readonly entries: Map<string, Resolved>) {}
  static load(input: ResolveInput = {}): AipConfig {
    return new AipConfig(resolveConfig(input))
  }
  get(key: string): ConfigValue | undefined {
    return this.entries.get(key)?.value
  }
  string(key: string): string | undefined {
    const v = this.get(key)
    return v === undefined ? undefined : String(v)
  }
  number(key: string): number | undefined {
    const v = this.get(key)
    return v === undefined ? undefined : Number(v)
  }
  durationMs(key: string): number | undefined {
    const v = this.get(key)
    return v === undefined ? undefined : parseDuration(String(v), key)
  }
}

function atomicWrite(path: string, text: string): void {
  mkdirSync(dirname(path), {recursive: true})
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`
  writeFileSync(tmp, text, {mode: 0o600})
  renameSync(tmp, path)
}

/** Sets (or with value undefined, removes) a key in a config file, keeping its comments. */
export function writeConfigKey(path: string, key: string, value: string | undefined): ConfigValue | undefined {
  const def = keyDef(key)
  if (!def) {
    const near = closest(key, KEY_NAMES)
    throw new UsageError(`unknown config key "${key}"`, {fix: near ? `did you mean "${near}"? (\`aip config view\` lists the keys)` : 'run `aip config view` to list the keys'})
  }
  readConfigFile(path) // refuse to overwrite a malformed file
  const doc = statSync(path, {throwIfNoEntry: false}) ? parseDocument(readFileSync(path, 'utf8')) : parseDocument('{}')
  let stored: ConfigValue | undefined
  if (value === undefined) {
    doc.delete(key)
  } else {
    stored = coerce(def, value, 'the command line')
    doc.set(key, stored)
  }
  const text = doc.toString()
  atomicWrite(path, text.trim() === '{}' ? '' : text)
  return stored
}
