import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'

import {AipCommand} from '../../base-command.js'
import {configPaths, writeConfigKey} from '../../lib/config/index.js'

export default class ConfigUnset extends AipCommand {
  static override summary = 'Remove a configuration value from the user (or with --local, the project) config file'
  static override enableJsonFlag = true
  static override args = {key: Args.string({description: 'configuration key', required: true})}
  static override flags = {local: Flags.boolean({description: 'edit ./aip.yaml instead of the user config', default: false})}

  async run(): Promise<{key: string; file: string}> {
    const {args, flags} = await this.parse(ConfigUnset)
    const paths = configPaths()
    const file = flags.local ? paths.local : paths.global
    writeConfigKey(file, args.key, undefined)
    this.info(`${args.key} removed from ${file}`)
    return {key: args.key, file}
  }
}
