/**
 * `aip doctor`: checks what the other commands need, each with a verdict and a fix: tools on PATH,
 * AWS access to the cluster (optional), the kubeconfig context, the API server, the platform base,
 * add-ons and GPU nodes. Never changes anything.
 */
import {accessSync, constants} from 'node:fs'
import {delimiter, join} from 'node:path'

import type {EKSClient} from '@aws-sdk/client-eks'

import {describeCluster} from '../aws/eks.js'
import {AipError} from '../errors.js'
import type {KubeClient} from '../kube/client.js'
import type {KubeObject} from '../kube/types.js'
import {detectAddons} from './addons.js'
import {PRELOAD_SERVICE_ACCOUNT, SERVER_SERVICE_ACCOUNT} from '../render/common.js'

export interface Check {
  name: string
  status: 'ok' | 'warn' | 'fail'
  message: string
  fix?: string
}

export interface DoctorOptions {
  /** Builds the Kubernetes client (its errors become a failed check). */
  kubeClient: () => Promise<KubeClient>
  eks?: {client: () => Promise<EKSClient>; name: string; region: string}
  modelNamespace: string
  monitoringNamespace: string
  /** The weights bucket from config (named in the S3 access check). */
  bucket?: string
  env?: NodeJS.ProcessEnv
  nodeVersion?: string
}

/** The first executable `name` on PATH, or undefined. */
export function which(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter).filter(Boolean)) {
    const p = join(dir, name)
    try {
      accessSync(p, constants.X_OK)
      return p
    } catch {
      // not here
    }
  }
  return undefined
}

function fromError(name: string, error: unknown): Check {
  const e = error instanceof AipError ? error : undefined
  return {name, status: 'fail', message: (error as Error).message.split('\n')[0] ?? String(error), fix: e?.fix}
}

export async function runDoctor(opts: DoctorOptions): Promise<Check[]> {
  const env = opts.env ?? process.env
  const checks: Check[] = []
  const nodeVersion = opts.nodeVersion ?? process.versions.node
  const [maj] = nodeVersion.split('.').map(Number)
  // package.json engines: Node 22 or 24 LTS (Node 20 is end-of-life)
  checks.push(
    maj! >= 22
      ? {name: 'node', status: 'ok', message: `Node ${nodeVersion}`}
      : {name: 'node', status: 'fail', message: `Node ${nodeVersion} is too old`, fix: 'install Node 22 or 24 LTS'},
  )
  const aws = which('aws', env)
  checks.push(aws ? {name: 'aws CLI', status: 'ok', message: aws} : {name: 'aws CLI', status: opts.eks ? 'fail' : 'warn', message: 'not on PATH: EKS kubeconfig contexts run `aws eks get-token`', fix: 'install AWS CLI v2 (https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html)'})
  const helm = which('helm', env)
  checks.push(helm ? {name: 'helm', status: 'ok', message: helm} : {name: 'helm', status: 'warn', message: 'not on PATH: needed only for `aip cluster bootstrap --install-addons`', fix: 'install helm 3 (https://helm.sh/docs/intro/install/)'})

  if (opts.eks) {
    try {
      const c = await describeCluster(await opts.eks.client(), opts.eks.name, opts.eks.region)
      checks.push({name: 'EKS cluster', status: c.status === 'ACTIVE' ? 'ok' : 'warn', message: `${c.name} (${c.region}) ${c.status}, Kubernetes ${c.version ?? '?'}`})
    } catch (error) {
      checks.push(fromError('EKS cluster', error))
    }
  }

  let client: KubeClient
  try {
    client = await opts.kubeClient()
    checks.push({name: 'kubeconfig', status: 'ok', message: `context ${client.context}${client.kubeconfigPath ? ` in ${client.kubeconfigPath}` : ''}`})
  } catch (error) {
    checks.push(fromError('kubeconfig', error))
    return checks
  }
  try {
    const v = await client.request<{gitVersion?: string}>('GET', '/version', {retry: false})
    checks.push({name: 'API server', status: 'ok', message: `${client.server}, Kubernetes ${v?.gitVersion ?? '?'}`})
  } catch (error) {
    checks.push(fromError('API server', error))
    return checks
  }
  try {
    const ns = await client.request<KubeObject>('GET', `/api/v1/namespaces/${encodeURIComponent(opts.modelNamespace)}`).catch((error: unknown) => {
      if ((error as Error).name === 'NotFoundError') return undefined
      throw error
    })
    checks.push(ns ? {name: 'platform', status: 'ok', message: `namespace ${opts.modelNamespace} present`} : {name: 'platform', status: 'warn', message: `namespace ${opts.modelNamespace} missing`, fix: 'run `aip cluster bootstrap`'})
    if (ns) checks.push(await s3AccessCheck(client, opts))
    for (const a of await detectAddons(client, opts.monitoringNamespace)) {
      checks.push({name: a.name, status: a.state === 'healthy' ? 'ok' : 'warn', message: a.message, ...(a.state !== 'healthy' && a.installable ? {fix: '`aip cluster bootstrap --install-addons`'} : {})})
    }
    const {networkPolicyStatus} = await import('./netpol.js')
    // an identity that may not list DaemonSets cluster-wide gets a warning here, and the other checks still run
    const np = await networkPolicyStatus(client).catch((error: unknown) => error as Error)
    checks.push(np instanceof Error ? {...fromError('network policies', np), status: 'warn'} : {name: 'network policies', status: np.state === 'enforced' ? 'ok' : 'warn', message: np.message, ...(np.warning ? {fix: np.warning.fix} : {})})
    const nodes = await client.request<{items?: KubeObject[]}>('GET', '/api/v1/nodes')
    const gpus = (nodes.items ?? []).reduce((n, o) => n + Number((o.status as {allocatable?: Record<string, string>} | undefined)?.allocatable?.['nvidia.com/gpu'] ?? 0), 0)
    checks.push(
      gpus > 0
        ? {name: 'GPU nodes', status: 'ok', message: `${gpus} GPUs allocatable`}
        : {name: 'GPU nodes', status: 'warn', message: 'no node advertises nvidia.com/gpu yet', fix: 'with Karpenter, GPU nodes appear when a model is deployed; otherwise add a GPU node group and the NVIDIA device plugin'},
    )
  } catch (error) {
    checks.push(fromError('cluster checks', error))
  }
  return checks
}

/**
 * S3 access of the model namespace's pods: both ServiceAccounts exist, and each is either annotated
 * for IRSA or has an EKS Pod Identity association (read from the EKS API, with the role it names).
 * This checks the wiring, not a live read: doctor changes nothing, so it starts no pod to GET an
 * object (the preload Job's first request is that test; its log names a missing association).
 */
async function s3AccessCheck(client: KubeClient, opts: DoctorOptions): Promise<Check> {
  const name = 'S3 access'
  const ns = opts.modelNamespace
  const where = opts.bucket ? `s3://${opts.bucket}` : 'the weights bucket'
  const {getObject} = await import('../kube/index.js')
  const sas = await Promise.all([SERVER_SERVICE_ACCOUNT, PRELOAD_SERVICE_ACCOUNT].map(async (sa) => ({sa, obj: await getObject(client, {apiVersion: 'v1', kind: 'ServiceAccount', name: sa, namespace: ns})})))
  const missing = sas.filter((x) => !x.obj).map((x) => x.sa)
  if (missing.length) return {name, status: 'fail', message: `ServiceAccount(s) ${missing.join(', ')} missing in ${ns}: model pods cannot reach ${where}`, fix: 'run `aip cluster bootstrap`'}
  const irsa = sas.map((x) => x.obj!.metadata.annotations?.['eks.amazonaws.com/role-arn'])
  if (irsa.every(Boolean)) return {name, status: 'ok', message: `IRSA: ${sas.map((x, i) => `${x.sa} -> ${irsa[i]!.split('/').pop()}`).join(', ')} (wiring checked; no pod is started to read ${where})`}
  if (!opts.eks) return {name, status: 'warn', message: `not EKS: cannot check how ${SERVER_SERVICE_ACCOUNT}/${PRELOAD_SERVICE_ACCOUNT} in ${ns} get credentials for ${where}`}
  try {
    const eks = await opts.eks.client()
    const {listPodIdentityAssociations} = await import('../aws/podidentity.js')
    const {DescribePodIdentityAssociationCommand} = await import('@aws-sdk/client-eks')
    const found = await listPodIdentityAssociations(eks, opts.eks.name, opts.eks.region, {namespace: ns})
    const parts: string[] = []
    const without: string[] = []
    for (const {sa} of sas) {
      const a = found.find((x) => x.serviceAccount === sa)
      if (!a) {
        without.push(sa)
        continue
      }
      const d = await eks.send(new DescribePodIdentityAssociationCommand({clusterName: opts.eks.name, associationId: a.associationId}))
      parts.push(`${sa} -> ${d.association?.roleArn?.split('/').pop() ?? '?'}`)
    }
    if (without.length) return {name, status: 'fail', message: `no EKS Pod Identity association for ${without.map((s) => `${ns}/${s}`).join(', ')}: its pods get AccessDenied on ${where}`, fix: 'run `aip cluster bootstrap` (it creates the roles and associations)'}
    return {name, status: 'ok', message: `EKS Pod Identity: ${parts.join(', ')} (associations checked; no pod is started to read ${where})`}
  } catch (error) {
    return fromError(name, error)
  }
}
