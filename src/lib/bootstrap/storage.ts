/**
 * Block storage on an EKS cluster with managed node groups (--compute nodegroups): EKS installs no
 * EBS CSI driver there, so a PersistentVolumeClaim (the gateway's Postgres volume) stays Pending.
 * Bootstrap makes the `aws-ebs-csi-driver` EKS add-on exist with an IAM role for its controller
 * through EKS Pod Identity: the AWS managed policy AmazonEBSCSIDriverPolicy, trusted by
 * pods.eks.amazonaws.com for ServiceAccount kube-system/ebs-csi-controller-sa only.
 *   https://docs.aws.amazon.com/eks/latest/userguide/ebs-csi.html
 *   https://docs.aws.amazon.com/eks/latest/userguide/add-ons-aws-ebs-csi-driver.html
 * The role and the association come first, so the controller's first pods already get credentials.
 * EKS Auto Mode runs its own EBS driver (ebs.csi.eks.amazonaws.com): nothing to do there.
 * The StorageClass for this driver (provisioner ebs.csi.aws.com) is templates/platform/storage-ebs-csi.yaml.
 */
import type {EKSClient} from '@aws-sdk/client-eks'
import type {IAMClient} from '@aws-sdk/client-iam'

import {ensureRole, type RoleResult} from '../aws/iam.js'
import {type AddonResult, type AssociationResult, ensureEksAddon, ensurePodIdentityAssociation, POD_IDENTITY_AGENT} from '../aws/podidentity.js'
import {podIdentityTrust} from './access.js'

export const EBS_CSI_ADDON = 'aws-ebs-csi-driver'
export const EBS_CSI_SERVICE_ACCOUNT = {namespace: 'kube-system', name: 'ebs-csi-controller-sa'} as const
export const EBS_CSI_POLICY = 'service-role/AmazonEBSCSIDriverPolicy'
/** The provisioner name the add-on's CSIDriver registers (Auto Mode's is ebs.csi.eks.amazonaws.com). */
export const EBS_CSI_PROVISIONER = 'ebs.csi.aws.com'

export interface EbsCsiResult {
  role: RoleResult
  association: AssociationResult
  addon: AddonResult
  /** The Pod Identity agent the controller's credentials come through (also with --irsa for the model pods). */
  podIdentityAgent: AddonResult
}

/** aip-CLUSTER-ebs-csi, within IAM's 64 characters. */
export function ebsCsiRoleName(cluster: string): string {
  return `aip-${cluster.replace(/[^\w+=,.@-]/g, '-').slice(0, 64 - 'aip--ebs-csi'.length)}-ebs-csi`
}

/** The managed policy's ARN in the partition of the region (aws, aws-cn, aws-us-gov). */
export function ebsCsiPolicyArn(region: string): string {
  const partition = region.startsWith('cn-') ? 'aws-cn' : region.startsWith('us-gov-') ? 'aws-us-gov' : 'aws'
  return `arn:${partition}:iam::aws:policy/${EBS_CSI_POLICY}`
}

export async function ensureEbsCsiDriver(opts: {cluster: string; region: string; account: string; clusterExists: boolean; iam: IAMClient; eks: EKSClient; dryRun?: boolean; signal?: AbortSignal}): Promise<EbsCsiResult> {
  const dryRun = Boolean(opts.dryRun)
  const sa = EBS_CSI_SERVICE_ACCOUNT
  const role = await ensureRole(
    opts.iam,
    {
      name: ebsCsiRoleName(opts.cluster),
      description: `aip ${opts.cluster}: the EBS CSI driver's controller (${sa.namespace}/${sa.name})`,
      trust: podIdentityTrust(opts.account, opts.cluster, [sa.namespace], sa.name),
      managedPolicyArns: [ebsCsiPolicyArn(opts.region)],
      tags: {'aip.dev/cluster': opts.cluster},
    },
    {dryRun, account: opts.account},
  )
  const association = await ensurePodIdentityAssociation(opts.eks, opts.cluster, opts.region, {namespace: sa.namespace, serviceAccount: sa.name, roleArn: role.arn}, {dryRun, clusterExists: opts.clusterExists, signal: opts.signal})
  const podIdentityAgent = opts.clusterExists ? await ensureEksAddon(opts.eks, opts.cluster, opts.region, POD_IDENTITY_AGENT, {dryRun, signal: opts.signal}) : {name: POD_IDENTITY_AGENT, action: dryRun ? ('create' as const) : ('created' as const)}
  const addon = opts.clusterExists ? await ensureEksAddon(opts.eks, opts.cluster, opts.region, EBS_CSI_ADDON, {dryRun, signal: opts.signal}) : {name: EBS_CSI_ADDON, action: dryRun ? ('create' as const) : ('created' as const)}
  return {role, association, addon, podIdentityAgent}
}
