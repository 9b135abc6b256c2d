/**
 * API keys: LiteLLM virtual keys owned by a team (a tenant of `aip cluster bootstrap --tenant`
 * is a team of the same name). A key is printed once, when it is made; afterwards only its alias
 * and the start of its hash (LiteLLM stores sha256 of the key, `token`) are shown.
 */
import {NotFoundError, UsageError} from '../errors.js'
import {isDns1123Label} from '../names.js'
import type {LitellmKey} from './admin.js'
import type {GatewayConnection} from './connect.js'
import {keyLabel} from './reconcile.js'

export interface CreateKeyOptions {
  team: string
  models?: string[]
  /** USD (LiteLLM max_budget) */
  budget?: number
  rpm?: number
  /** LiteLLM duration: 30d, 12h, 90m, 45s */
  expires?: string
  alias?: string
  signal?: AbortSignal
}

export interface CreatedKey {
  /** The secret: shown once. */
  key: string
  alias: string
  team: string
  teamCreated: boolean
  models: string[]
  budget?: number
  rpm?: number
  expires?: string | null
  hash: string
  /** models named that the gateway does not serve (yet) */
  unknownModels: string[]
}

export interface KeyRow {
  alias: string
  hash: string
  team?: string
  models: string[]
  budget?: number | null
  spend?: number | null
  rpm?: number | null
  expires?: string | null
  created?: string | null
}

export function validateTeam(team: string): void {
  if (!isDns1123Label(team)) throw new UsageError(`invalid team "${team}"`, {fix: 'teams are tenant names: lower-case letters, digits and "-", e.g. --team team-a'})
}

export function validateDuration(expires: string): void {
  if (!/^[1-9]\d*[smhd]$/.test(expires)) throw new UsageError(`invalid --expires "${expires}"`, {fix: 'use a number with s, m, h or d, e.g. --expires 30d'})
}

/**
 * The options' own checks, before any request (the command runs them before it connects): a bad
 * team or expiry, or a --models list with no name in it, which would otherwise mean "every model".
 */
export function validateKeyOptions(o: Pick<CreateKeyOptions, 'team' | 'expires' | 'models'>): string[] {
  validateTeam(o.team)
  if (o.expires !== undefined) validateDuration(o.expires)
  const models = [...new Set((o.models ?? []).map((m) => m.trim()).filter(Boolean))]
  if (o.models !== undefined && models.length === 0) throw new UsageError('--models names no model', {fix: 'list public model names, e.g. --models qwen3-8b,llama-3.1-8b-instruct, or leave --models out for every model the team may use'})
  return models
}

export async function createKey(conn: GatewayConnection, o: CreateKeyOptions): Promise<CreatedKey> {
  const models = validateKeyOptions(o)
  const served = new Set((await conn.admin.models(o.signal)).map((m) => m.model_name))
  const teamCreated = await conn.admin.ensureTeam(o.team, o.signal)
  const alias = o.alias ?? `${o.team}-${Date.now().toString(36)}`
  const r = await conn.admin.generateKey(
    {
      team_id: o.team,
      key_alias: alias,
      ...(models.length ? {models} : {}),
      ...(o.budget !== undefined ? {max_budget: o.budget} : {}),
      ...(o.rpm !== undefined ? {rpm_limit: o.rpm} : {}),
      ...(o.expires ? {duration: o.expires} : {}),
      metadata: {created_by: 'aip'},
    },
    o.signal,
  )
  return {key: r.key, alias, team: o.team, teamCreated, models, budget: o.budget, rpm: o.rpm, expires: r.expires ?? null, hash: (r.token ?? '').slice(0, 12), unknownModels: models.filter((m) => !served.has(m))}
}

function row(k: LitellmKey): KeyRow {
  return {alias: k.key_alias ?? '', hash: k.token.slice(0, 12), ...(k.team_id ? {team: k.team_id} : {}), models: k.models ?? [], budget: k.max_budget ?? null, spend: k.spend ?? null, rpm: k.rpm_limit ?? null, expires: k.expires ?? null, created: k.created_at ?? null}
}

export async function listKeys(conn: GatewayConnection, o: {team?: string; signal?: AbortSignal} = {}): Promise<KeyRow[]> {
  if (o.team) validateTeam(o.team)
  const keys = await conn.admin.listKeys({teamId: o.team, signal: o.signal})
  return keys.map(row).sort((a, b) => (a.team ?? '').localeCompare(b.team ?? '') || a.alias.localeCompare(b.alias))
}

/** Revokes by alias or by hash prefix (at least 8 characters); exactly one key must match. */
export async function revokeKey(conn: GatewayConnection, which: string, o: {signal?: AbortSignal} = {}): Promise<KeyRow> {
  const keys = await conn.admin.listKeys({signal: o.signal})
  let matches = keys.filter((k) => k.key_alias === which)
  if (matches.length === 0 && /^[0-9a-f]{8,64}$/.test(which)) matches = keys.filter((k) => k.token.startsWith(which))
  if (matches.length === 0) {
    throw new NotFoundError(`no key with alias or hash "${which}"`, {fix: `list them: aip key list${keys.length ? ` (e.g. ${keys.slice(0, 3).map(keyLabel).join(', ')})` : ''}`})
  }
  if (matches.length > 1) throw new UsageError(`"${which}" matches ${matches.length} keys`, {fix: 'give the alias, or more characters of the hash'})
  await conn.admin.deleteKey(matches[0]!.token, o.signal)
  return row(matches[0]!)
}
