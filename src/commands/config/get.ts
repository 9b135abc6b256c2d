import * as Args from '@oclif/core/args'

import {AipCommand} from '../../base-command.js'
import {KEY_NAMES, resolveConfig} from '../../lib/config/index.js'
import {UsageError} from '../../lib/errors.js'
import {closest} from '../../lib/suggest.js'

export default class ConfigGet extends AipCommand {
  static override summary = 'Print one effective configuration value'
  static override enableJsonFlag = true
  static override args = {key: Args.string({description: 'configuration key', required: true})}

  async run(): Promise<{key: string; value: unknown; source: string}> {
    const {args} = await this.parse(ConfigGet)
    const entry = resolveConfig().get(args.key)
    if (!entry) {
      const near = closest(args.key, KEY_NAMES)
      throw new UsageError(`unknown config key "${args.key}"`, {fix: near ? `did you mean "${near}"?` : 'run `aip config view` to list the keys'})
    }
    const value = entry.secret && entry.value !== undefined ? '***' : entry.value
    this.print(value === undefined ? '' : String(value))
    return {key: entry.key, value: value ?? null, source: entry.source}
  }
}
