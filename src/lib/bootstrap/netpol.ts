/**
 * NetworkPolicy enforcement. The platform base's default-deny and allow rules mean nothing unless
 * the cluster's network plugin enforces them, and on EKS it does not by default:
 *  - the Amazon VPC CNI enforces NetworkPolicy only with its network policy agent on: for the EKS
 *    managed add-on `vpc-cni` (v1.14+; aip requires v1.16+, see MIN_VPC_CNI_FOR_NETPOL), configuration value {"enableNetworkPolicy": "true"}
 *    (CreateAddon/UpdateAddon `configurationValues`), which sets `--enable-network-policy=true` on
 *    the aws-node DaemonSet's `aws-eks-nodeagent` container;
 *      https://docs.aws.amazon.com/eks/latest/userguide/cni-network-policy-configure.html
 *      https://docs.aws.amazon.com/eks/latest/APIReference/API_UpdateAddon.html
 *  - EKS Auto Mode: the ConfigMap kube-system/amazon-vpc-cni with
 *    `enable-network-policy-controller: "true"` (the NodeClass default `networkPolicy: DefaultAllow`
 *    then enforces the policies that select a pod);
 *      https://docs.aws.amazon.com/eks/latest/userguide/auto-net-pol.html
 *  - Calico, Cilium, Antrea, kube-router and Weave enforce NetworkPolicy themselves.
 * Bootstrap turns enforcement on where it can (describe first, change only what is missing, merge
 * the user's other configurationValues) and otherwise returns a warning naming what to do: a policy
 * that silently does nothing is never reported as fine.
 */
import type {EKSClient} from '@aws-sdk/client-eks'
import {parse as parseYaml} from 'yaml'

import {type Ctx, withRetry} from '../aws/eks.js'
import {AipError, ConflictError, NotFoundError, UnauthorizedError, UsageError} from '../errors.js'
import type {KubeClient} from '../kube/client.js'
import type {KubeObject} from '../kube/types.js'

export const VPC_CNI_ADDON = 'vpc-cni'
/** EKS Auto Mode's switch (auto-net-pol.html). */
export const AUTO_MODE_CNI_CONFIGMAP = {namespace: 'kube-system', name: 'amazon-vpc-cni', key: 'enable-network-policy-controller'} as const
/** The vpc-cni add-on's configuration value (cni-network-policy-configure.html). */
export const VPC_CNI_NETPOL_KEY = 'enableNetworkPolicy'

export type Enforcer = 'vpc-cni' | 'eks-auto-mode' | 'calico' | 'cilium' | 'antrea' | 'kube-router' | 'weave' | 'none'

export interface NetworkPolicyStatus {
  enforcer: Enforcer
  /** enforced: policies take effect; not-enforced: they are stored but do nothing; unknown: cannot tell */
  state: 'enforced' | 'not-enforced' | 'unknown'
  /** what this run did (dry run: would do) to turn enforcement on */
  action: 'unchanged' | 'create' | 'created' | 'update' | 'updated' | 'none'
  message: string
  /** set when policies are (or may be) not enforced and aip did not fix it: the user's next step */
  warning?: {message: string; fix: string}
}

/** DaemonSet names of network plugins that enforce NetworkPolicy on their own (any namespace: the Tigera operator runs calico-node in calico-system). */
const OTHER_ENFORCERS: Array<{enforcer: Enforcer; match: RegExp}> = [
  {enforcer: 'cilium', match: /^cilium$/},
  {enforcer: 'calico', match: /^(calico-node|canal)$/},
  {enforcer: 'antrea', match: /^antrea-agent$/},
  {enforcer: 'kube-router', match: /^kube-router$/},
  {enforcer: 'weave', match: /^weave-net$/},
]

export function otherEnforcer(daemonsets: KubeObject[]): {enforcer: Enforcer; where: string} | undefined {
  for (const e of OTHER_ENFORCERS) {
    const ds = daemonsets.find((d) => e.match.test(d.metadata.name))
    if (ds) return {enforcer: e.enforcer, where: `${ds.metadata.namespace}/${ds.metadata.name}`}
  }
  return undefined
}

/**
 * The VPC CNI's network policy agent as the aws-node DaemonSet runs it: 'on' when a container has
 * --enable-network-policy=true, 'off' when aws-node runs without it, 'absent' without aws-node.
 */
export function awsNodeAgent(daemonsets: KubeObject[]): 'on' | 'off' | 'absent' {
  const ds = daemonsets.find((d) => d.metadata.name === 'aws-node' && d.metadata.namespace === 'kube-system')
  if (!ds) return 'absent'
  const containers = ((ds.spec as {template?: {spec?: {containers?: Array<{args?: string[]}>}}} | undefined)?.template?.spec?.containers ?? [])
  return containers.some((c) => (c.args ?? []).includes('--enable-network-policy=true')) ? 'on' : 'off'
}

/** The add-on's configurationValues (JSON or YAML, as UpdateAddon accepts) as an object. */
export function parseConfigurationValues(text: string | undefined): Record<string, unknown> {
  if (!text?.trim()) return {}
  const v = parseYaml(text) as unknown
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new AipError('FAILED', `the ${VPC_CNI_ADDON} add-on's configurationValues are not an object`, {fix: 'check them with `aws eks describe-addon --addon-name vpc-cni`'})
  return v as Record<string, unknown>
}

const isTrue = (v: unknown) => v === true || v === 'true'

/**
 * The oldest vpc-cni add-on aip turns the network policy agent on for: v1.16.0 (versions look like
 * "v1.18.1-eksbuild.3"). `enableNetworkPolicy` exists from v1.14.0, but the agents shipped with
 * v1.14-v1.15 (aws-network-policy-agent before v1.0.7) dropped the kubelet's liveness/readiness
 * probes, which come from the node's IP, under a default-deny ingress policy: every model and
 * gateway pod would stay unready (aws/aws-network-policy-agent#56 and #139; the node IP is allowed
 * since PR #65, completely from v1.0.7, which vpc-cni v1.16.0 ships).
 */
export const MIN_VPC_CNI_FOR_NETPOL = {major: 1, minor: 16, text: 'v1.16.0'} as const
/** vpc-cni added enableNetworkPolicy in v1.14.0. */
const FIRST_VPC_CNI_WITH_NETPOL = {major: 1, minor: 14} as const

const atLeast = (version: string | undefined, min: {major: number; minor: number}): boolean => {
  const m = /^v?(\d+)\.(\d+)/.exec(version ?? '')
  if (!m) return true
  return Number(m[1]) > min.major || (Number(m[1]) === min.major && Number(m[2]) >= min.minor)
}

/** Whether aip may turn the agent on for this add-on version (unknown versions: yes). */
export function supportsNetworkPolicy(version: string | undefined): boolean {
  return atLeast(version, MIN_VPC_CNI_FOR_NETPOL)
}

const NETPOL_DOC = 'https://docs.aws.amazon.com/eks/latest/userguide/cni-network-policy-configure.html'
const updateCmd = (cluster: string, region: string) => `aws eks update-addon --cluster-name ${cluster} --region ${region} --addon-name vpc-cni --resolve-conflicts PRESERVE --configuration-values '{"enableNetworkPolicy":"true"}'`

async function listDaemonSets(client: KubeClient, signal?: AbortSignal): Promise<KubeObject[]> {
  const list = await client.request<{items?: KubeObject[]}>('GET', '/apis/apps/v1/daemonsets', {signal})
  return list.items ?? []
}

export interface EnsureNetworkPolicyOptions {
  /** undefined: not reachable (a dry run of a cluster not created yet) */
  client?: KubeClient
  /** EKS mode; undefined with --skip-eks */
  eks?: {client: EKSClient; cluster: string; region: string; autoMode: boolean; clusterExists: boolean; createdByAip: boolean}
  dryRun?: boolean
  signal?: AbortSignal
}

/** Turns NetworkPolicy enforcement on where aip can; reports how policies are enforced. */
export async function ensureNetworkPolicyEnforcement(opts: EnsureNetworkPolicyOptions): Promise<NetworkPolicyStatus> {
  const dryRun = Boolean(opts.dryRun)
  const eks = opts.eks
  if (eks && !eks.clusterExists) {
    // a dry run of --create: the real run enables it on the new cluster
    return eks.autoMode
      ? {enforcer: 'eks-auto-mode', state: 'enforced', action: 'create', message: `would create ConfigMap ${AUTO_MODE_CNI_CONFIGMAP.namespace}/${AUTO_MODE_CNI_CONFIGMAP.name} ${AUTO_MODE_CNI_CONFIGMAP.key}=true`}
      : {enforcer: 'vpc-cni', state: 'enforced', action: 'create', message: `would create the ${VPC_CNI_ADDON} EKS add-on with ${VPC_CNI_NETPOL_KEY}=true`}
  }
  const daemonsets = opts.client ? await listDaemonSets(opts.client, opts.signal) : []
  const other = otherEnforcer(daemonsets)
  if (other) return {enforcer: other.enforcer, state: 'enforced', action: 'none', message: `enforced by ${other.enforcer} (DaemonSet ${other.where})`}

  if (eks?.autoMode) return ensureAutoMode(opts.client, dryRun, opts.signal)
  if (eks) return ensureVpcCniAddon(eks, daemonsets, dryRun, opts.signal)
  // --skip-eks on an EKS Auto Mode cluster (its NodeClass CRD): the switch is a Kubernetes object,
  // applied like the rest of the platform base
  if (opts.client) {
    const {crdExists} = await import('../kube/index.js')
    if (await crdExists(opts.client, 'eks.amazonaws.com', 'NodeClass')) return ensureAutoMode(opts.client, dryRun, opts.signal)
  }
  // --skip-eks: read what runs, change nothing
  const agent = awsNodeAgent(daemonsets)
  if (agent === 'on') return {enforcer: 'vpc-cni', state: 'enforced', action: 'none', message: 'enforced by the VPC CNI network policy agent (aws-node --enable-network-policy=true)'}
  if (agent === 'off') {
    return {
      enforcer: 'vpc-cni',
      state: 'not-enforced',
      action: 'none',
      message: 'the VPC CNI runs without its network policy agent: NetworkPolicies are stored but not enforced',
      warning: {message: 'NetworkPolicies are NOT enforced: the VPC CNI network policy agent is off (not EKS mode, so aip does not change it)', fix: `set enableNetworkPolicy=true on the vpc-cni add-on or Helm chart (${NETPOL_DOC}), or rerun bootstrap in EKS mode (--name, --region)`},
    }
  }
  if (!opts.client) return {enforcer: 'none', state: 'unknown', action: 'none', message: 'cluster not reachable: enforcement not checked'}
  return {
    enforcer: 'none',
    state: 'unknown',
    action: 'none',
    message: 'no network plugin known to enforce NetworkPolicy found (VPC CNI agent, Calico, Cilium, Antrea, kube-router, Weave)',
    warning: {message: 'NetworkPolicies may NOT be enforced: no known enforcing network plugin runs on this cluster', fix: "use a network plugin that enforces NetworkPolicy (Calico, Cilium, or the VPC CNI with enableNetworkPolicy) and check it with `aip doctor`"},
  }
}

async function ensureAutoMode(client: KubeClient | undefined, dryRun: boolean, signal?: AbortSignal): Promise<NetworkPolicyStatus> {
  const {namespace, name, key} = AUTO_MODE_CNI_CONFIGMAP
  const what = `ConfigMap ${namespace}/${name} ${key}=true`
  const {getObject, applyObjects} = await import('../kube/index.js')
  const cm = client ? await getObject(client, {apiVersion: 'v1', kind: 'ConfigMap', name, namespace}) : undefined
  const current = (cm as {data?: Record<string, string>} | undefined)?.data?.[key]
  if (current === 'true') return {enforcer: 'eks-auto-mode', state: 'enforced', action: 'unchanged', message: `EKS Auto Mode network policy controller on (${what})`}
  const action = cm ? 'update' : 'create'
  if (dryRun || !client) return {enforcer: 'eks-auto-mode', state: 'enforced', action, message: `would ${action} ${what}`}
  // server-side apply of this one key: other keys of the ConfigMap (other managers') stay as they are
  try {
    await applyObjects(client, [{apiVersion: 'v1', kind: 'ConfigMap', metadata: {name, namespace}, data: {[key]: 'true'}} as KubeObject], {signal})
  } catch (error) {
    // 403, or another field manager owns the key with another value (a user's explicit "false")
    if (!(error instanceof UnauthorizedError) && !(error instanceof ConflictError)) throw error
    return {
      enforcer: 'eks-auto-mode',
      state: 'not-enforced',
      action: 'none',
      message: `cannot write ${what}: ${(error as Error).message.split('\n')[0]}`,
      warning: {message: `NetworkPolicies are NOT enforced: EKS Auto Mode's network policy controller is off and aip could not turn it on`, fix: `with cluster-admin: kubectl -n ${namespace} patch configmap ${name} --type merge -p '{"data":{"${key}":"true"}}' (or create it: https://docs.aws.amazon.com/eks/latest/userguide/auto-net-pol.html)`},
    }
  }
  return {enforcer: 'eks-auto-mode', state: 'enforced', action: action === 'create' ? 'created' : 'updated', message: `EKS Auto Mode network policy controller turned on (${what})`}
}

async function ensureVpcCniAddon(eks: NonNullable<EnsureNetworkPolicyOptions['eks']>, daemonsets: KubeObject[], dryRun: boolean, signal?: AbortSignal): Promise<NetworkPolicyStatus> {
  const sdk = await import('@aws-sdk/client-eks')
  const ctx: Ctx = {cluster: eks.cluster, region: eks.region}
  const denied = (error: unknown, perm: string): NetworkPolicyStatus => ({
    enforcer: 'vpc-cni',
    state: awsNodeAgent(daemonsets) === 'on' ? 'enforced' : 'unknown',
    action: 'none',
    message: `AWS refused ${perm}: ${(error as Error).message.split('\n')[0]}`,
    warning: {message: `NetworkPolicy enforcement not checked or turned on: AWS refused ${perm}`, fix: `grant eks:DescribeAddon, eks:CreateAddon and eks:UpdateAddon (README "First deploy on a new AWS account") and rerun, or run: ${updateCmd(eks.cluster, eks.region)}`},
  })
  let addon: {addonVersion?: string; configurationValues?: string; status?: string} | undefined
  try {
    addon = (await withRetry(() => eks.client.send(new sdk.DescribeAddonCommand({clusterName: eks.cluster, addonName: VPC_CNI_ADDON}), {abortSignal: signal}), ctx, {signal})).addon
  } catch (error) {
    if (error instanceof UnauthorizedError) return denied(error, 'eks:DescribeAddon')
    if (!(error instanceof NotFoundError)) throw error
  }
  const config = JSON.stringify({[VPC_CNI_NETPOL_KEY]: 'true'})
  if (!addon) {
    // EKS installs the VPC CNI self-managed on a cluster created with bootstrapSelfManagedAddons (the
    // default without Auto Mode). On a cluster aip created (this run, or an earlier one: its
    // app.kubernetes.io/managed-by=aip tag, so a rerun after an interruption finishes the job) the
    // managed add-on takes it over with the network policy agent on; on anyone else's cluster the
    // self-managed aws-node may carry settings of theirs, which taking it over could overwrite.
    if (eks.createdByAip) {
      if (dryRun) return {enforcer: 'vpc-cni', state: 'enforced', action: 'create', message: `would create the ${VPC_CNI_ADDON} EKS add-on with ${VPC_CNI_NETPOL_KEY}=true`}
      try {
        await withRetry(() => eks.client.send(new sdk.CreateAddonCommand({clusterName: eks.cluster, addonName: VPC_CNI_ADDON, configurationValues: config, resolveConflicts: 'OVERWRITE', tags: {'app.kubernetes.io/managed-by': 'aip'}}), {abortSignal: signal}), ctx, {signal})
      } catch (error) {
        if (error instanceof UnauthorizedError) return denied(error, 'eks:CreateAddon')
        throw error
      }
      return {enforcer: 'vpc-cni', state: 'enforced', action: 'created', message: `${VPC_CNI_ADDON} EKS add-on created with ${VPC_CNI_NETPOL_KEY}=true (aws-node pods restart with the network policy agent)`}
    }
    const agent = awsNodeAgent(daemonsets)
    if (agent === 'on') return {enforcer: 'vpc-cni', state: 'enforced', action: 'none', message: 'self-managed VPC CNI with its network policy agent on (aws-node --enable-network-policy=true)'}
    return {
      enforcer: agent === 'off' ? 'vpc-cni' : 'none',
      state: agent === 'off' ? 'not-enforced' : 'unknown',
      action: 'none',
      message: agent === 'off' ? `the VPC CNI is self-managed (not an EKS add-on) and its network policy agent is off` : 'no VPC CNI (aws-node) and no other known enforcing network plugin found',
      warning: {
        message: agent === 'off' ? 'NetworkPolicies are NOT enforced: the VPC CNI is self-managed, not an EKS add-on, so aip does not change it' : 'NetworkPolicies may NOT be enforced: vpc-cni is not an EKS add-on and no known enforcing network plugin runs on this cluster',
        fix: `adopt it as the EKS add-on with the agent on: aws eks create-addon --cluster-name ${eks.cluster} --region ${eks.region} --addon-name vpc-cni --resolve-conflicts OVERWRITE --configuration-values '{"enableNetworkPolicy":"true"}' (OVERWRITE replaces your own aws-node settings), or set enableNetworkPolicy=true in your aws-vpc-cni Helm values (${NETPOL_DOC})`,
      },
    }
  }

  const values = parseConfigurationValues(addon.configurationValues)
  if (isTrue(values[VPC_CNI_NETPOL_KEY])) {
    const enforced = {enforcer: 'vpc-cni', state: 'enforced', action: 'unchanged', message: `${VPC_CNI_ADDON} ${addon.addonVersion ?? ''} ${VPC_CNI_NETPOL_KEY}=true`.replace('  ', ' ')} as const
    if (supportsNetworkPolicy(addon.addonVersion)) return enforced
    // turned on by the user on an add-on whose agent may drop the kubelet's probes: left on, said
    return {
      ...enforced,
      warning: {
        message: `the ${VPC_CNI_ADDON} add-on ${addon.addonVersion} enforces NetworkPolicies with a network policy agent older than v1.0.7, which can block the kubelet's health probes under aip's default-deny (model pods stuck unready)`,
        fix: `update the add-on to ${MIN_VPC_CNI_FOR_NETPOL.text} or later (\`aws eks describe-addon-versions --addon-name vpc-cni\` lists the versions)`,
      },
    }
  }
  if (!supportsNetworkPolicy(addon.addonVersion)) {
    return {
      enforcer: 'vpc-cni',
      state: 'not-enforced',
      action: 'none',
      message: atLeast(addon.addonVersion, FIRST_VPC_CNI_WITH_NETPOL)
        ? `${VPC_CNI_ADDON} ${addon.addonVersion}: its network policy agent (before v1.0.7) blocks kubelet probes under default-deny; not turned on`
        : `${VPC_CNI_ADDON} ${addon.addonVersion} predates network policy support (v1.14.0)`,
      warning: {
        message: atLeast(addon.addonVersion, FIRST_VPC_CNI_WITH_NETPOL)
          ? `NetworkPolicies are NOT enforced: the ${VPC_CNI_ADDON} add-on ${addon.addonVersion} is older than ${MIN_VPC_CNI_FOR_NETPOL.text}, whose network policy agent would block the kubelet's health probes (every model pod would stay unready), so aip leaves it off`
          : `NetworkPolicies are NOT enforced: the ${VPC_CNI_ADDON} add-on ${addon.addonVersion} is older than v1.14.0`,
        fix: `update the add-on to ${MIN_VPC_CNI_FOR_NETPOL.text} or later (\`aws eks describe-addon-versions --addon-name vpc-cni\` lists the versions), then rerun bootstrap`,
      },
    }
  }
  // keep every other value the user set; only enableNetworkPolicy changes
  const merged = JSON.stringify({...values, [VPC_CNI_NETPOL_KEY]: 'true'})
  if (dryRun) return {enforcer: 'vpc-cni', state: 'enforced', action: 'update', message: `would update ${VPC_CNI_ADDON} configurationValues to ${merged}`}
  try {
    await withRetry(() => eks.client.send(new sdk.UpdateAddonCommand({clusterName: eks.cluster, addonName: VPC_CNI_ADDON, configurationValues: merged, resolveConflicts: 'PRESERVE'}), {abortSignal: signal}), ctx, {signal})
  } catch (error) {
    if (error instanceof UnauthorizedError) return denied(error, 'eks:UpdateAddon')
    // another update in progress (ResourceInUseException), or EKS rejected the values
    // (InvalidParameterException): the platform is still applied, the user is told what to do
    const name = String((((error as AipError).cause ?? error) as {name?: string}).name ?? '')
    if (name !== 'ResourceInUseException' && !(error instanceof UsageError)) throw error
    return {
      enforcer: 'vpc-cni',
      state: 'not-enforced',
      action: 'none',
      message: `UpdateAddon ${VPC_CNI_ADDON} failed (${name || 'rejected'}): ${(error as Error).message.split('\n')[0]}`,
      warning: {
        message: `NetworkPolicies are NOT enforced: EKS did not take ${VPC_CNI_NETPOL_KEY} on the ${VPC_CNI_ADDON} add-on (${name === 'ResourceInUseException' ? 'an update of the add-on is in progress' : 'it rejected the configuration values'})`,
        fix: name === 'ResourceInUseException' ? 'rerun `aip cluster bootstrap` once `aws eks describe-addon --addon-name vpc-cni` shows ACTIVE' : `check the values with \`aws eks describe-addon-configuration --addon-name vpc-cni --addon-version ${addon.addonVersion ?? 'VERSION'}\`, then run: ${updateCmd(eks.cluster, eks.region)}`,
      },
    }
  }
  return {enforcer: 'vpc-cni', state: 'enforced', action: 'updated', message: `${VPC_CNI_ADDON} configurationValues set to ${merged} (aws-node pods restart with the network policy agent)`}
}

/**
 * Read-only (cluster status, doctor): how NetworkPolicies are enforced, from the cluster alone.
 * EKS Auto Mode is recognised by its NodeClass CRD.
 */
export async function networkPolicyStatus(client: KubeClient, opts: {signal?: AbortSignal} = {}): Promise<NetworkPolicyStatus> {
  const daemonsets = await listDaemonSets(client, opts.signal)
  const other = otherEnforcer(daemonsets)
  if (other) return {enforcer: other.enforcer, state: 'enforced', action: 'none', message: `enforced by ${other.enforcer} (DaemonSet ${other.where})`}
  const {crdExists, getObject} = await import('../kube/index.js')
  if (await crdExists(client, 'eks.amazonaws.com', 'NodeClass')) {
    const {namespace, name, key} = AUTO_MODE_CNI_CONFIGMAP
    const cm = await getObject(client, {apiVersion: 'v1', kind: 'ConfigMap', name, namespace})
    if ((cm as {data?: Record<string, string>} | undefined)?.data?.[key] === 'true') return {enforcer: 'eks-auto-mode', state: 'enforced', action: 'none', message: `EKS Auto Mode network policy controller on (${namespace}/${name} ${key}=true)`}
    return {enforcer: 'eks-auto-mode', state: 'not-enforced', action: 'none', message: `EKS Auto Mode network policy controller off (${namespace}/${name} ${key} not "true")`, warning: {message: 'NetworkPolicies are NOT enforced', fix: 'rerun `aip cluster bootstrap` (it turns the controller on)'}}
  }
  const agent = awsNodeAgent(daemonsets)
  if (agent === 'on') return {enforcer: 'vpc-cni', state: 'enforced', action: 'none', message: 'VPC CNI network policy agent on (aws-node --enable-network-policy=true)'}
  if (agent === 'off') return {enforcer: 'vpc-cni', state: 'not-enforced', action: 'none', message: 'VPC CNI network policy agent off: NetworkPolicies are stored but not enforced', warning: {message: 'NetworkPolicies are NOT enforced', fix: `rerun \`aip cluster bootstrap\` (it sets ${VPC_CNI_NETPOL_KEY} on the vpc-cni EKS add-on), or set it yourself (${NETPOL_DOC})`}}
  return {enforcer: 'none', state: 'unknown', action: 'none', message: 'no network plugin known to enforce NetworkPolicy found', warning: {message: 'NetworkPolicies may NOT be enforced', fix: 'use a network plugin that enforces NetworkPolicy (Calico, Cilium, or the VPC CNI with enableNetworkPolicy)'}}
}
