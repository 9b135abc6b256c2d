/**
 * The base class an aip command extends on the fast path (see ./run.ts): in the fast bundle
 * `@oclif/core/command` resolves here instead of to oclif's Command, whose module loads oclif's
 * configuration, help and terminal layers (most of oclif's start-up). It mirrors what
 * @oclif/core 4.x `lib/command.js` does for an invocation that the fast path accepts (no help flag,
 * no hooks, nothing deprecated): the same `_run` sequence (init, run, catch, finally, then the
 * --json result), the same `jsonEnabled` rule, and `parse` with oclif's own parser over the
 * command's own static flags and args (aggregated with oclif's `aggregateFlags`). Everything else
 * (errors, warnings, exit, output helpers) is oclif's code, loaded from the vendor bundle only when
 * reached.
 * test/e2e/fast-path.test.ts runs the same invocations through both paths and compares them.
 */
import {createRequire} from 'node:module'
import {inspect} from 'node:util'
import type * as OclifErrors from '@oclif/core/errors'
import * as Parser from '@oclif/core/parser'
import type {ux as OclifUx} from '@oclif/core/ux'
import type {Interfaces} from '@oclif/core'
// oclif's own flag aggregation (the --json flag definition included); not in its exports map, so
// the fast bundle resolves this path itself (scripts/bundle.mjs)
// @ts-expect-error untyped deep import, resolved by the bundler
import {aggregateFlags} from '@oclif/core/lib/util/aggregate-flags.js'

/** The part of oclif's Config a command reads on the fast path (built by ./run.ts). */
export interface LiteConfig {
  bin: string
  userAgent: string
  scopedEnvVar(k: string): string | undefined
  scopedEnvVarKeys(k: string): string[]
  [key: string]: unknown
}

type Ctor = typeof Command

/**
 * A module of oclif's lib/ from the vendor bundle (dist/vendor/oclif.cjs, scripts/bundle.mjs), loaded
 * when first used: the fast bundles live in dist/fast/, next to dist/vendor/.
 */
export function oclifLib<T>(path: string): T {
  return (createRequire(import.meta.url)('../vendor/oclif.cjs') as {lib: Record<string, T>}).lib[path]!
}

const Errors = () => oclifLib<typeof OclifErrors>('errors/index.js')
const ux = () => oclifLib<{ux: typeof OclifUx}>('ux/index.js').ux

export abstract class Command {
  static id: string | undefined
  static aliases: string[] = []
  static hiddenAliases: string[] = []
  static args: Interfaces.ArgInput = {}
  static baseFlags: Interfaces.FlagInput
  static flags: Interfaces.FlagInput
  static enableJsonFlag = false
  static strict = true
  static state: string | undefined
  static deprecateAliases: boolean | undefined
  static summary: string | undefined
  static description: string | undefined
  static examples: unknown
  static usage: unknown
  static hidden: boolean | undefined

  id: string | undefined
  parsed = false
  debug: (...args: unknown[]) => void = () => {}

  constructor(
    public argv: string[],
    public config: LiteConfig,
  ) {
    this.id = this.ctor.id
  }

  get ctor(): Ctor {
    return this.constructor as Ctor
  }

  abstract run(): Promise<unknown>

  protected async _run<T>(): Promise<T | undefined> {
    let err: Error | undefined
    let result: T | undefined
    try {
      for (const key of this.config.scopedEnvVarKeys('REDIRECTED')) delete process.env[key]
      await this.init()
      result = (await this.run()) as T
    } catch (error) {
      err = error as Error
      await this.catch(error as Error & {exitCode?: number})
    } finally {
      await this.finally(err)
    }
    if (result && this.jsonEnabled()) this.logJson(this.toSuccessJson(result))
    return result
  }

  async catch(err: Error & {exitCode?: number}): Promise<unknown> {
    process.exitCode = process.exitCode ?? err.exitCode ?? 1
    if (this.jsonEnabled()) {
      this.logJson(this.toErrorJson(err))
      return
    }
    throw err
  }

  error(input: string | Error, options: {code?: string; exit?: number} = {}): never {
    return Errors().error(input, options as {exit: number})
  }

  exit(code = 0): never {
    return Errors().exit(code)
  }

  async finally(_: Error | undefined): Promise<unknown> {
    return undefined
  }

  async init(): Promise<unknown> {
    const g = globalThis as unknown as Record<string, Record<string, unknown> | undefined>
    g['http-call'] = g['http-call'] || {}
    g['http-call'].userAgent = this.config.userAgent
    return undefined
  }

  jsonEnabled(): boolean {
    if (!this.ctor?.enableJsonFlag) return false
    if (this.config.scopedEnvVar?.('CONTENT_TYPE')?.toLowerCase() === 'json') return true
    const passThroughIndex = this.argv.indexOf('--')
    const jsonIndex = this.argv.indexOf('--json')
    return passThroughIndex === -1 ? jsonIndex !== -1 : jsonIndex !== -1 && jsonIndex < passThroughIndex
  }

  log(message = '', ...args: unknown[]): void {
    if (!this.jsonEnabled()) ux().stdout(typeof message === 'string' ? message : inspect(message), ...(args as string[]))
  }

  logJson(json: unknown): void {
    ux().stdout(ux().colorizeJson(json, {pretty: true, theme: (this.config.theme as {json?: never} | undefined)?.json}))
  }

  logToStderr(message = '', ...args: unknown[]): void {
    if (!this.jsonEnabled()) ux().stderr(typeof message === 'string' ? message : inspect(message), ...(args as string[]))
  }

  protected async parse(options?: Ctor, argv = this.argv): Promise<any> {
    const o = options ?? this.ctor
    const opts = {context: this, ...o, flags: aggregateFlags(o.flags, o.baseFlags, o.enableJsonFlag)}
    this.argv = [...argv]
    const results = await Parser.parse(argv, opts as unknown as Parameters<typeof Parser.parse>[1])
    this.parsed = true
    return results
  }

  protected toErrorJson(err: unknown): unknown {
    if (err instanceof Error) return {error: {...err, message: err.message, name: err.name}}
    return {error: err}
  }

  protected toSuccessJson(result: unknown): unknown {
    return result
  }

  warn(input: string | Error): string | Error {
    if (!this.jsonEnabled()) Errors().warn(input)
    return input
  }
}
