/**
 * What a deploy needs before it starts (a kubeconfig that reaches a cluster, a weights bucket, the
 * Hub token Secret for a gated model), all checked up front and reported together, so a new user
 * fixes everything in one round instead of meeting one error per run.
 */
import {AipError, toAipError, UsageError} from '../errors.js'
import type {KubeClient} from '../kube/client.js'
import type {CatalogEntry} from '../catalog/schema.js'
import {DEFAULT_HF_TOKEN_SECRET} from '../render/common.js'

export interface PrerequisiteInput {
  entry: Pick<CatalogEntry, 'name' | 'hf'>
  bucket?: string
  namespace: string
  /** False for --dry-run=client / -o without --diff: nothing is contacted. */
  needsCluster: boolean
  /** Builds the Kubernetes client (kubeconfig, context). */
  connect: () => Promise<KubeClient>
  /** The Secret the preload Job reads HF_TOKEN from (default aip-hf-token/token). */
  hfTokenSecret?: {name: string; key: string}
}

/** One missing prerequisite: its own error (message, fix, exit code). */
export type Missing = AipError

/**
 * Checks every prerequisite; returns the client when the cluster is reachable. Throws the error
 * itself when one thing is missing, or one error listing them all (with the exit code of the
 * first: kubeconfig, then bucket, then token) when several are.
 */
export async function checkDeployPrerequisites(input: PrerequisiteInput): Promise<KubeClient | undefined> {
  const missing: Missing[] = []
  let client: KubeClient | undefined
  if (input.needsCluster) {
    try {
      client = await input.connect()
    } catch (error) {
      const e = toAipError(error)
      // only what the user can set up is a prerequisite; an unreachable or refusing cluster is its own failure
      if (e.code !== 'NOT_FOUND' && e.code !== 'USAGE') throw e
      missing.push(e)
    }
  }
  if (!input.bucket) {
    missing.push(new UsageError('no S3 bucket for model weights is configured', {fix: 'set one: aip config set bucket NAME (or AIP_BUCKET); `aip cluster bootstrap` prints it'}))
  }
  if (client && input.entry.hf.gated) {
    const secret = input.hfTokenSecret ?? DEFAULT_HF_TOKEN_SECRET
    const {getObject} = await import('../kube/client.js')
    const found = await getObject(client, {apiVersion: 'v1', kind: 'Secret', name: secret.name, namespace: input.namespace}).catch((error: unknown) => {
      // not allowed to read Secrets: the preload Job will say so itself if the token is missing
      if (toAipError(error).code === 'UNAUTHORIZED') return true
      throw error
    })
    if (!found) {
      missing.push(
        new UsageError(`${input.entry.name} is gated on the Hub (${input.entry.hf.repo}) and the Secret ${input.namespace}/${secret.name} holding its token does not exist`, {
          fix: `run \`aip secret set hf-token -n ${input.namespace}\` (reads $HF_TOKEN or prompts; a token with access to ${input.entry.hf.repo}: accept its license on the Hub)`,
        }),
      )
    }
  }
  if (missing.length === 0) return client
  if (missing.length === 1) throw missing[0]
  const first = missing[0]!
  throw new AipError(first.code, `cannot deploy ${input.entry.name}: ${missing.length} prerequisites are missing: ${missing.map((m, i) => `(${i + 1}) ${m.message}`).join('; ')}`, {
    fix: missing.map((m, i) => `(${i + 1}) ${m.fix ?? 'see above'}`).join('; '),
    details: {missing: missing.map((m) => m.toJSON())},
  })
}
