import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'

import {AipCommand} from '../../base-command.js'
import {configPaths, writeConfigKey} from '../../lib/config/index.js'

export default class ConfigSet extends AipCommand {
  static override summary = 'Set a configuration value in the user (or with --local, the project) config file'
  static override enableJsonFlag = true
  static override args = {
    key: Args.string({description: 'configuration key (see `aip config view`)', required: true}),
    value: Args.string({description: 'value to store', required: true}),
  }
  static override flags = {
    local: Flags.boolean({description: 'write ./aip.yaml instead of ~/.config/aip/config.yaml', default: false}),
  }
  static override examples = ['<%= config.bin %> config set region us-east-1', '<%= config.bin %> config set bucket my-weights --local']

  async run(): Promise<{key: string; value: unknown; file: string}> {
    const {args, flags} = await this.parse(ConfigSet)
    const paths = configPaths()
    const file = flags.local ? paths.local : paths.global
    const value = writeConfigKey(file, args.key, args.value)
    this.info(`${args.key} = ${String(value)} (written to ${file})`)
    return {key: args.key, value, file}
  }
}
