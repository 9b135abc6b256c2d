import {AipCommand} from '../../base-command.js'
import {configPaths, resolveConfig} from '../../lib/config/index.js'
import {renderTable} from '../../lib/output/index.js'

export interface ConfigViewResult {
  files: {local: string; global: string}
  values: Array<{key: string; value: string | number | boolean | null; source: string; description: string}>
}

export default class ConfigView extends AipCommand {
  static override summary = 'Show every effective configuration value and where it came from'
  static override description =
    'Resolution order: flags > AIP_* environment variables > ./aip.yaml > ~/.config/aip/config.yaml > defaults.'
  static override enableJsonFlag = true
  static override examples = ['<%= config.bin %> config view', '<%= config.bin %> config view --json | jq .result.values']

  async run(): Promise<ConfigViewResult> {
    await this.parse(ConfigView)
    const resolved = [...resolveConfig().values()]
    const result: ConfigViewResult = {
      files: configPaths(),
      values: resolved.map((r) => ({
        key: r.key,
        value: r.secret && r.value !== undefined ? '***' : (r.value ?? null),
        source: r.source,
        description: r.description,
      })),
    }
    this.print(
      renderTable(result.values, [
        {header: 'key', get: (r) => r.key},
        {header: 'value', get: (r) => (r.value === null ? '' : String(r.value))},
        {header: 'source', get: (r) => r.source},
      ]),
    )
    return result
  }
}
