
import {AipCommand} from '../../base-command.js'
import {kubeFlags, modelNameArg} from '../../flags.js'
import {kubeClientFromConfig} from '../../lib/deploy/index.js'
import {renderTable} from '../../lib/output/index.js'
import type {Revision} from '../../lib/rollout/history.js'

export interface HistoryRow {
  revision: number
  recordedAt: string
  source: Revision['source']
  restoredFrom?: number
  summary: Revision['summary']
  /** What changed against the revision before it ("field: old -> new"); the first: what it runs. */
  changes: string[]
  objects: number
  objectsOmitted?: string
}

export default class ModelHistory extends AipCommand {
  static override summary = "List a model's revisions: number, when, source (deploy, rollout, rollback) and what changed"
  static override description = `Like kubectl rollout history: the revisions \`aip model deploy\`, a promoted \`aip model rollout\` and \`aip model rollback\` recorded for the model (the last 5; ConfigMap aip-history-NAME in the model's namespace), newest first, each with what changed against the one before it.
\`aip model rollback NAME [--to REVISION]\` returns to one of them. --json adds the full summaries.`
  static override enableJsonFlag = true
  static override aliases = ['model:rollout:history']
  static override examples = ['<%= config.bin %> model history qwen3-8b', '<%= config.bin %> model history qwen3-8b --json']

  static override args = {
    name: modelNameArg(),
  }

  static override flags = {...kubeFlags}

  async run(): Promise<{model: string; namespace: string; revisions: HistoryRow[]}> {
    const {args, flags} = await this.parse(ModelHistory)
    const client = await kubeClientFromConfig(this.config_(flags), undefined, (m) => this.warn(m))
    const {listRevisions} = await import('../../lib/rollout/history.js')
    const {diffRevisions} = await import('../../lib/rollout/summary.js')
    const revisions = await listRevisions(client, client.namespace, args.name, {signal: this.signal})
    if (revisions.length === 0) {
      const {getObject} = await import('../../lib/kube/index.js')
      const {notDeployed} = await import('../../lib/deploy/index.js')
      const {objectName} = await import('../../lib/render/index.js')
      if (!(await getObject(client, {apiVersion: 'apps/v1', kind: 'Deployment', name: objectName(args.name), namespace: client.namespace}))) throw await notDeployed(client, args.name, client.namespace)
    }
    const rows: HistoryRow[] = revisions.map((r, i) => ({
      revision: r.revision,
      recordedAt: r.recordedAt,
      source: r.source,
      ...(r.restoredFrom !== undefined ? {restoredFrom: r.restoredFrom} : {}),
      summary: r.summary,
      changes: diffRevisions(revisions[i + 1], r),
      objects: r.objects.length,
      ...(r.objectsOmitted ? {objectsOmitted: r.objectsOmitted} : {}),
    }))
    if (rows.length === 0) {
      this.print(`${args.name} has no recorded revisions in ${client.namespace} (history starts with the next \`aip model deploy ${args.name}\`)`)
    } else {
      this.print(
        renderTable(rows, [
          {header: 'revision', get: (r) => r.revision},
          {header: 'recorded', get: (r) => r.recordedAt.replace(/\.\d+Z$/, 'Z')},
          {header: 'source', get: (r) => (r.restoredFrom !== undefined ? `${r.source} to ${r.restoredFrom}` : r.source)},
          {header: 'change', get: (r) => (r.changes.length ? r.changes.join('; ') : '(objects only)') + (r.objectsOmitted ? ' [objects not kept]' : '')},
        ]),
      )
    }
    return {model: args.name, namespace: client.namespace, revisions: rows}
  }
}
