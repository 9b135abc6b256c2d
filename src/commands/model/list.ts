import * as Flags from '@oclif/core/flags'

import {AipCommand} from '../../base-command.js'
import {kubeFlags} from '../../flags.js'
import {AipError} from '../../lib/errors.js'
import {kubeClientFromConfig, listModels, type ModelRow} from '../../lib/deploy/index.js'
import {renderTable} from '../../lib/output/index.js'

export interface ModelListResult {
  namespace: string | null
  cluster: boolean
  models: ModelRow[]
}

export default class ModelList extends AipCommand {
  static override summary = 'List catalog models and the models deployed in the cluster'
  static override description = 'Deployed models (found by the aip.dev/model label) come first with their status, ready/desired replicas and in-cluster endpoint; catalog entries that are not deployed follow. Without a kubeconfig only the catalog is shown (with a warning).'
  static override enableJsonFlag = true
  static override examples = ['<%= config.bin %> model list', '<%= config.bin %> model list -A', '<%= config.bin %> model list --catalog', '<%= config.bin %> model list --json | jq \'.result.models[] | select(.deployed)\'']

  static override flags = {
    ...kubeFlags,
    'all-namespaces': Flags.boolean({char: 'A', description: 'deployed models in every namespace', default: false}),
    catalog: Flags.boolean({description: 'the catalog only; do not contact the cluster', default: false}),
  }

  async run(): Promise<ModelListResult> {
    const {flags} = await this.parse(ModelList)
    const cfg = this.config_(flags)
    let client
    if (!flags.catalog) {
      try {
        client = await kubeClientFromConfig(cfg)
      } catch (error) {
        // No kubeconfig at all: the catalog is still useful. Anything else (bad context, a --kubeconfig
        // that names a missing file) is an error.
        if (error instanceof AipError && error.code === 'NOT_FOUND' && flags.kubeconfig === undefined) this.warn(`no cluster: ${error.message}; showing the catalog only`)
        else throw error
      }
    }
    const namespace = client ? (flags['all-namespaces'] ? null : client.namespace) : null
    const models = await listModels(client, {namespace: namespace ?? undefined, allNamespaces: flags['all-namespaces']})
    this.print(
      renderTable(models, [
        {header: 'name', get: (m) => m.name},
        {header: 'status', get: (m) => (m.deployed ? m.status : 'not deployed')},
        {header: 'ready', get: (m) => (m.deployed ? `${m.ready}/${m.desired}` : '')},
        {header: 'gpu', get: (m) => m.gpu},
        ...(flags['all-namespaces'] ? [{header: 'namespace', get: (m: ModelRow) => m.namespace}] : []),
        {header: 'endpoint / description', get: (m) => m.endpoint ?? m.description},
      ]),
    )
    return {namespace, cluster: Boolean(client), models}
  }
}
