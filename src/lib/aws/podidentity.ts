/**
 * EKS Pod Identity through the EKS API: the `eks-pod-identity-agent` add-on (not on Auto Mode,
 * which runs the agent itself) and one association per (namespace, ServiceAccount) -> IAM role.
 * ListPodIdentityAssociations filtered by namespace and service account finds an existing one
 * (the summary has no role, so DescribePodIdentityAssociation tells whether it points at the
 * wanted role; UpdatePodIdentityAssociation moves it). Every call is idempotent; `dryRun` only reads.
 *   https://docs.aws.amazon.com/eks/latest/APIReference/API_CreatePodIdentityAssociation.html
 *   https://docs.aws.amazon.com/eks/latest/APIReference/API_ListPodIdentityAssociations.html
 */
import type {EKSClient} from '@aws-sdk/client-eks'

import {AipError, NotFoundError} from '../errors.js'
import {type Ctx, withRetry} from './eks.js'
import {type Change, change} from './iam.js'

export const POD_IDENTITY_AGENT = 'eks-pod-identity-agent'

export interface AddonResult {
  name: string
  action: Change | 'built-in'
  status?: string
  version?: string
}

function causeName(err: unknown): string {
  return err instanceof AipError ? String((err.cause as {name?: string})?.name ?? '') : String((err as {name?: string})?.name ?? '')
}

/** Installs an EKS add-on when missing (EKS picks the default version for the cluster's Kubernetes version). */
export async function ensureEksAddon(eks: EKSClient, cluster: string, region: string, addonName: string, opts: {dryRun?: boolean; signal?: AbortSignal} = {}): Promise<AddonResult> {
  const sdk = await import('@aws-sdk/client-eks')
  const ctx: Ctx = {cluster, region}
  try {
    const out = await withRetry(() => eks.send(new sdk.DescribeAddonCommand({clusterName: cluster, addonName})), ctx, opts)
    return {name: addonName, action: 'unchanged', status: out.addon?.status, version: out.addon?.addonVersion}
  } catch (error) {
    if (!(error instanceof NotFoundError)) throw error
  }
  if (!opts.dryRun) {
    try {
      const out = await withRetry(() => eks.send(new sdk.CreateAddonCommand({clusterName: cluster, addonName, resolveConflicts: 'OVERWRITE', tags: {'app.kubernetes.io/managed-by': 'aip'}})), ctx, opts)
      return {name: addonName, action: 'created', status: out.addon?.status, version: out.addon?.addonVersion}
    } catch (error) {
      if (causeName(error) !== 'ResourceInUseException') throw error
    }
  }
  return {name: addonName, action: change('create', Boolean(opts.dryRun))}
}

export interface AssociationSpec {
  namespace: string
  serviceAccount: string
  roleArn: string
}

export interface AssociationResult extends AssociationSpec {
  action: Change
  associationId?: string
}

export async function ensurePodIdentityAssociation(eks: EKSClient, cluster: string, region: string, spec: AssociationSpec, opts: {dryRun?: boolean; clusterExists?: boolean; signal?: AbortSignal} = {}): Promise<AssociationResult> {
  const sdk = await import('@aws-sdk/client-eks')
  const ctx: Ctx = {cluster, region}
  const dryRun = Boolean(opts.dryRun)
  // a cluster that a dry run would create has no associations yet
  if (opts.clusterExists === false) return {...spec, action: change('create', dryRun)}
  const list = await withRetry(() => eks.send(new sdk.ListPodIdentityAssociationsCommand({clusterName: cluster, namespace: spec.namespace, serviceAccount: spec.serviceAccount})), ctx, opts)
  const found = (list.associations ?? []).find((a) => a.namespace === spec.namespace && a.serviceAccount === spec.serviceAccount)
  if (found?.associationId) {
    const d = await withRetry(() => eks.send(new sdk.DescribePodIdentityAssociationCommand({clusterName: cluster, associationId: found.associationId})), ctx, opts)
    if (d.association?.roleArn === spec.roleArn) return {...spec, action: 'unchanged', associationId: found.associationId}
    if (!dryRun) await withRetry(() => eks.send(new sdk.UpdatePodIdentityAssociationCommand({clusterName: cluster, associationId: found.associationId, roleArn: spec.roleArn})), ctx, opts)
    return {...spec, action: change('update', dryRun), associationId: found.associationId}
  }
  if (dryRun) return {...spec, action: 'create'}
  const out = await withRetry(
    () => eks.send(new sdk.CreatePodIdentityAssociationCommand({clusterName: cluster, namespace: spec.namespace, serviceAccount: spec.serviceAccount, roleArn: spec.roleArn, tags: {'app.kubernetes.io/managed-by': 'aip'}})),
    ctx,
    opts,
  )
  return {...spec, action: 'created', associationId: out.association?.associationId}
}

/** Lists every association of the cluster (doctor). */
export async function listPodIdentityAssociations(eks: EKSClient, cluster: string, region: string, opts: {namespace?: string} = {}): Promise<Array<{namespace: string; serviceAccount: string; associationId: string}>> {
  const sdk = await import('@aws-sdk/client-eks')
  const out: Array<{namespace: string; serviceAccount: string; associationId: string}> = []
  let nextToken: string | undefined
  do {
    const page = await withRetry(() => eks.send(new sdk.ListPodIdentityAssociationsCommand({clusterName: cluster, namespace: opts.namespace, nextToken})), {cluster, region}, {})
    for (const a of page.associations ?? []) out.push({namespace: a.namespace ?? '', serviceAccount: a.serviceAccount ?? '', associationId: a.associationId ?? ''})
    nextToken = page.nextToken
  } while (nextToken)
  return out
}
