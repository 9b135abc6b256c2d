/**
 * The fast path for aip's hot offline commands (`aip gpu-fit <model>` is what CI gates call): the
 * command class runs on ./command.ts instead of oclif's Command, without oclif's Config (plugin
 * discovery, manifest, hooks, help), which is most of the start-up (bench/startup.mjs). The command
 * is the same class as on the oclif path: its static flags and args, parsed by oclif's parser, are
 * the only definition; errors go through the same AipCommand.catch; whatever escapes `_run`
 * (an EEXIT) goes to oclif's own `handle`, loaded then.
 *
 * bin/run.js calls `run` for a command id with a fast bundle (dist/fast/<id>.js, scripts/bundle.mjs).
 * It returns false, having done nothing, for an invocation only the oclif path reproduces: a help
 * flag, oclif hooks other than command_not_found, DEBUG output, deprecation warnings; bin/run.js
 * then takes the oclif path.
 */
import {flush} from '@oclif/core/flush'
import type {handle as oclifHandle} from '@oclif/core/handle'

import {type Command, type LiteConfig, oclifLib} from './command.js'

interface PackageJson {
  name: string
  version: string
  oclif: {bin?: string; binAliases?: string[]; hooks?: Record<string, unknown>; additionalHelpFlags?: string[]; [k: string]: unknown}
  [k: string]: unknown
}

type FlagDef = {deprecated?: unknown; deprecateAliases?: unknown}
type CommandClass = (new (argv: string[], config: LiteConfig) => Command) & typeof Command

/** oclif's Config.scopedEnvVarKey(s): BIN_KEY, for the bin and its aliases. */
function envKey(bin: string, k: string): string {
  return [bin, k]
    .map((p) => p.replaceAll('@', '').replaceAll(/[/-]/g, '_'))
    .join('_')
    .toUpperCase()
}

export function liteConfig(root: string, pjson: PackageJson): LiteConfig {
  const bin = pjson.oclif.bin ?? pjson.name
  const keys = (k: string) => [bin, ...(pjson.oclif.binAliases ?? [])].filter(Boolean).map((b) => envKey(b, k))
  return {
    root,
    pjson,
    name: pjson.name,
    version: pjson.version,
    bin,
    // oclif's Config: `${name}/${version} ${platform}-${arch} node-${process.version}` (as `aip --version`)
    userAgent: `${pjson.name}/${pjson.version} ${process.platform}-${process.arch} node-${process.version}`,
    scopedEnvVarKeys: keys,
    scopedEnvVar: (k: string) => process.env[keys(k).find((key) => process.env[key]) ?? ''],
  }
}

/** Whether this invocation is one the fast path reproduces exactly (see the module comment). */
export function eligible(Cmd: CommandClass, argv: string[], pjson: PackageJson): boolean {
  const bin = pjson.oclif.bin ?? pjson.name
  if (process.env.DEBUG || process.env[envKey(bin, 'DEBUG')]) return false
  if (Object.keys(pjson.oclif.hooks ?? {}).some((h) => h !== 'command_not_found')) return false
  const helpFlags = new Set(['--help', ...(pjson.oclif.additionalHelpFlags ?? [])])
  const dd = argv.indexOf('--')
  if ((dd === -1 ? argv : argv.slice(0, dd)).some((a) => helpFlags.has(a))) return false
  if (Cmd.state === 'deprecated' || Cmd.deprecateAliases) return false
  const flags = {...Cmd.baseFlags, ...Cmd.flags} as Record<string, FlagDef>
  return !Object.values(flags).some((f) => f.deprecated || f.deprecateAliases)
}

/** Runs the command the way oclif's execute would; false when the oclif path must run instead. */
export async function runFast(Cmd: CommandClass, id: string, argv: string[], opts: {root: string; pjson: PackageJson}): Promise<boolean> {
  if (!eligible(Cmd, argv, opts.pjson)) return false
  Cmd.id = id
  try {
    await new Cmd(argv, liteConfig(opts.root, opts.pjson))['_run']()
    await flush()
  } catch (error) {
    await oclifLib<{handle: typeof oclifHandle}>('errors/handle.js').handle(error as Error)
  }
  return true
}
