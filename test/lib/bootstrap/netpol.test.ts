/**
 * NetworkPolicy enforcement at bootstrap: the vpc-cni EKS add-on (DescribeAddon / UpdateAddon /
 * CreateAddon with configurationValues, as the EKS API documents them) through aws-sdk-client-mock,
 * EKS Auto Mode's amazon-vpc-cni ConfigMap and the DaemonSets of other network plugins against the
 * loopback API server, and every path where aip cannot turn enforcement on (a warning, never a pass).
 */
import {CreateAddonCommand, DescribeAddonCommand, EKSClient, ResourceInUseException, ResourceNotFoundException, UpdateAddonCommand} from '@aws-sdk/client-eks'
import {mockClient} from 'aws-sdk-client-mock'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {ensureNetworkPolicyEnforcement, networkPolicyStatus} from '../../../src/lib/bootstrap/netpol.js'
import {runBootstrap} from '../../../src/lib/bootstrap/index.js'
import type {KubeClient} from '../../../src/lib/kube/index.js'
import {type KubeApiServer, startKubeApiServer} from '../../support/kube-apiserver/index.mjs'
import {client} from '../teardown/fixtures.js'

const REGION = 'eu-west-1'
const eks = new EKSClient({region: REGION, credentials: {accessKeyId: 'x', secretAccessKey: 'y'}})
const eksm = mockClient(eks)
const meta = {$metadata: {}}

let api: KubeApiServer
let c: KubeClient
/** the vpc-cni add-on as EKS holds it; undefined: not an EKS add-on */
let addon: {addonName: string; addonVersion: string; configurationValues?: string} | undefined

function fakeEks() {
  eksm.on(DescribeAddonCommand).callsFake(async (i) => {
    if (i.addonName !== 'vpc-cni' || !addon) throw new ResourceNotFoundException({message: `No addon: ${i.addonName} found in cluster: prod`, $metadata: {}})
    return {addon: {...addon, clusterName: i.clusterName, status: 'ACTIVE'}, ...meta}
  })
  eksm.on(UpdateAddonCommand).callsFake(async (i) => {
    addon!.configurationValues = i.configurationValues
    return {update: {id: 'u-1', status: 'InProgress', type: 'AddonUpdate'}, ...meta}
  })
  eksm.on(CreateAddonCommand).callsFake(async (i) => {
    addon = {addonName: i.addonName!, addonVersion: 'v1.19.2-eksbuild.1', configurationValues: i.configurationValues}
    return {addon: {...addon, status: 'CREATING'}, ...meta}
  })
}

const awsNode = (agentOn: boolean) => ({
  apiVersion: 'apps/v1',
  kind: 'DaemonSet',
  metadata: {name: 'aws-node', namespace: 'kube-system'},
  spec: {
    selector: {matchLabels: {'k8s-app': 'aws-node'}},
    template: {
      metadata: {labels: {'k8s-app': 'aws-node'}},
      spec: {
        containers: [
          {name: 'aws-node', image: 'amazon-k8s-cni'},
          {name: 'aws-eks-nodeagent', image: 'aws-network-policy-agent', args: ['--enable-ipv6=false', `--enable-network-policy=${agentOn}`, '--enable-cloudwatch-logs=false']},
        ],
      },
    },
  },
})
const daemonSet = (ns: string, name: string) => ({apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: {name, namespace: ns}, spec: {selector: {matchLabels: {a: name}}, template: {metadata: {labels: {a: name}}, spec: {containers: [{name, image: name}]}}}})

const eksOpts = (extra: {autoMode?: boolean; createdByAip?: boolean; clusterExists?: boolean} = {}) => ({client: eks, cluster: 'prod', region: REGION, autoMode: false, clusterExists: true, createdByAip: false, ...extra})
const updates = () => eksm.commandCalls(UpdateAddonCommand).map((x) => x.args[0].input)

beforeEach(async () => {
  eksm.reset()
  addon = undefined
  fakeEks()
  api = await startKubeApiServer()
  api.store.put({apiVersion: 'v1', kind: 'Namespace', metadata: {name: 'kube-system'}})
  c = await client(api)
})
afterEach(async () => {
  await api.stop()
})

describe('vpc-cni EKS add-on: enableNetworkPolicy', () => {
  it('turns it on with UpdateAddon, keeping the configurationValues the user set; a rerun changes nothing', async () => {
    api.store.put(awsNode(false))
    addon = {addonName: 'vpc-cni', addonVersion: 'v1.18.3-eksbuild.2', configurationValues: JSON.stringify({env: {WARM_IP_TARGET: '5'}, enableWindowsIpam: 'false'})}
    const first = await ensureNetworkPolicyEnforcement({client: c, eks: eksOpts()})
    expect(first).toMatchObject({enforcer: 'vpc-cni', state: 'enforced', action: 'updated'})
    expect(first.warning).toBeUndefined()
    expect(updates()).toHaveLength(1)
    const input = updates()[0]!
    expect(input).toMatchObject({clusterName: 'prod', addonName: 'vpc-cni', resolveConflicts: 'PRESERVE'})
    // merged, not clobbered; the value is the string "true" as the add-on's schema takes it
    expect(JSON.parse(input.configurationValues!)).toEqual({env: {WARM_IP_TARGET: '5'}, enableWindowsIpam: 'false', enableNetworkPolicy: 'true'})

    eksm.resetHistory()
    const second = await ensureNetworkPolicyEnforcement({client: c, eks: eksOpts()})
    expect(second).toMatchObject({state: 'enforced', action: 'unchanged'})
    expect(updates()).toEqual([])
  })

  it('YAML configurationValues are merged too', async () => {
    addon = {addonName: 'vpc-cni', addonVersion: 'v1.18.3-eksbuild.2', configurationValues: 'env:\n  ENABLE_PREFIX_DELEGATION: "true"\n'}
    await ensureNetworkPolicyEnforcement({client: c, eks: eksOpts()})
    expect(JSON.parse(updates()[0]!.configurationValues!)).toEqual({env: {ENABLE_PREFIX_DELEGATION: 'true'}, enableNetworkPolicy: 'true'})
  })

  it('dry run describes only and says what it would set', async () => {
    addon = {addonName: 'vpc-cni', addonVersion: 'v1.18.3-eksbuild.2'}
    const r = await ensureNetworkPolicyEnforcement({client: c, eks: eksOpts(), dryRun: true})
    expect(r.action).toBe('update')
    expect(r.message).toContain('{"enableNetworkPolicy":"true"}')
    expect(eksm.commandCalls(DescribeAddonCommand)).toHaveLength(1)
    expect(updates()).toEqual([])
    expect(addon.configurationValues).toBeUndefined()
  })

  it('an add-on older than v1.14 is not updated: a warning says to upgrade it', async () => {
    addon = {addonName: 'vpc-cni', addonVersion: 'v1.12.6-eksbuild.2'}
    const r = await ensureNetworkPolicyEnforcement({client: c, eks: eksOpts()})
    expect(r.state).toBe('not-enforced')
    expect(r.warning!.message).toContain('older than v1.14.0')
    expect(updates()).toEqual([])
  })

  it('v1.14-v1.15 (agent before v1.0.7 drops kubelet probes under default-deny): left off, a warning to update to v1.16.0', async () => {
    for (const v of ['v1.14.1-eksbuild.1', 'v1.15.5-eksbuild.1']) {
      addon = {addonName: 'vpc-cni', addonVersion: v}
      const r = await ensureNetworkPolicyEnforcement({client: c, eks: eksOpts()})
      expect(r).toMatchObject({enforcer: 'vpc-cni', state: 'not-enforced', action: 'none'})
      expect(r.warning!.message).toContain('probes')
      expect(r.warning!.fix).toContain('v1.16.0')
      expect(updates()).toEqual([])
    }
    // v1.16.0 is the first aip turns on
    addon = {addonName: 'vpc-cni', addonVersion: 'v1.16.0-eksbuild.1'}
    const r = await ensureNetworkPolicyEnforcement({client: c, eks: eksOpts()})
    expect(r).toMatchObject({state: 'enforced', action: 'updated'})
    expect(r.warning).toBeUndefined()
  })

  it('already on by the user on v1.15: enforced and left on, with a warning about the probes', async () => {
    addon = {addonName: 'vpc-cni', addonVersion: 'v1.15.3-eksbuild.1', configurationValues: '{"enableNetworkPolicy":"true"}'}
    const r = await ensureNetworkPolicyEnforcement({client: c, eks: eksOpts()})
    expect(r).toMatchObject({state: 'enforced', action: 'unchanged'})
    expect(r.warning!.message).toContain('probes')
    expect(updates()).toEqual([])
  })

  it('AccessDenied on UpdateAddon: a warning naming the permissions, not a failure and not a pass', async () => {
    addon = {addonName: 'vpc-cni', addonVersion: 'v1.18.3-eksbuild.2'}
    eksm.on(UpdateAddonCommand).rejects(Object.assign(new Error('User: arn:aws:iam::123456789012:user/ops is not authorized to perform: eks:UpdateAddon'), {name: 'AccessDeniedException', $metadata: {httpStatusCode: 403}}))
    const r = await ensureNetworkPolicyEnforcement({client: c, eks: eksOpts()})
    expect(r.state).not.toBe('enforced')
    expect(r.warning!.message).toContain('eks:UpdateAddon')
    expect(r.warning!.fix).toContain('eks:UpdateAddon')
    expect(r.warning!.fix).toContain(`aws eks update-addon --cluster-name prod --region ${REGION} --addon-name vpc-cni`)
  })

  it('an update already in progress (ResourceInUseException): a warning to rerun, bootstrap goes on', async () => {
    addon = {addonName: 'vpc-cni', addonVersion: 'v1.18.3-eksbuild.2'}
    eksm.on(UpdateAddonCommand).rejects(new ResourceInUseException({message: 'Addon vpc-cni is currently being updated', $metadata: {httpStatusCode: 409}}))
    const r = await ensureNetworkPolicyEnforcement({client: c, eks: eksOpts()})
    expect(r.state).toBe('not-enforced')
    expect(r.warning!.message).toContain('an update of the add-on is in progress')
    expect(r.warning!.fix).toContain('rerun `aip cluster bootstrap`')
  })

  it('other UpdateAddon failures (a server error) still fail the run', async () => {
    addon = {addonName: 'vpc-cni', addonVersion: 'v1.18.3-eksbuild.2'}
    eksm.on(UpdateAddonCommand).rejects(Object.assign(new Error('boom'), {name: 'ClientException', $metadata: {httpStatusCode: 400}}))
    await expect(ensureNetworkPolicyEnforcement({client: c, eks: eksOpts()})).rejects.toThrow(/ClientException/)
  })

  it('self-managed VPC CNI (no EKS add-on, ResourceNotFoundException) on a cluster aip did not create: a warning, nothing written', async () => {
    api.store.put(awsNode(false))
    const r = await ensureNetworkPolicyEnforcement({client: c, eks: eksOpts()})
    expect(r).toMatchObject({enforcer: 'vpc-cni', state: 'not-enforced', action: 'none'})
    expect(r.warning!.message).toContain('self-managed')
    expect(r.warning!.fix).toContain('aws eks create-addon --cluster-name prod')
    expect(eksm.commandCalls(CreateAddonCommand)).toHaveLength(0)
    expect(updates()).toEqual([])
  })

  it('self-managed VPC CNI with the agent already on counts as enforced', async () => {
    api.store.put(awsNode(true))
    const r = await ensureNetworkPolicyEnforcement({client: c, eks: eksOpts()})
    expect(r).toMatchObject({enforcer: 'vpc-cni', state: 'enforced'})
    expect(r.warning).toBeUndefined()
  })

  it('a cluster aip created: the managed vpc-cni add-on is created with enableNetworkPolicy', async () => {
    api.store.put(awsNode(false))
    const r = await ensureNetworkPolicyEnforcement({client: c, eks: eksOpts({createdByAip: true})})
    expect(r).toMatchObject({state: 'enforced', action: 'created'})
    const input = eksm.commandCalls(CreateAddonCommand)[0]!.args[0].input
    expect(input).toMatchObject({clusterName: 'prod', addonName: 'vpc-cni', resolveConflicts: 'OVERWRITE'})
    expect(JSON.parse(input.configurationValues!)).toEqual({enableNetworkPolicy: 'true'})
    // a rerun (the add-on now exists with the value) changes nothing
    eksm.resetHistory()
    expect((await ensureNetworkPolicyEnforcement({client: c, eks: eksOpts({createdByAip: true})})).action).toBe('unchanged')
    expect(eksm.commandCalls(CreateAddonCommand)).toHaveLength(0)
  })

  for (const [ns, name, enforcer] of [['kube-system', 'calico-node', 'calico'], ['calico-system', 'calico-node', 'calico'], ['kube-system', 'cilium', 'cilium']] as const) {
    it(`${enforcer} (DaemonSet ${ns}/${name}) enforces on its own: no AWS call, no warning`, async () => {
      api.store.put({apiVersion: 'v1', kind: 'Namespace', metadata: {name: ns}})
      api.store.put(daemonSet(ns, name))
      api.store.put(awsNode(false))
      const r = await ensureNetworkPolicyEnforcement({client: c, eks: eksOpts()})
      expect(r).toMatchObject({enforcer, state: 'enforced', action: 'none'})
      expect(r.warning).toBeUndefined()
      expect(eksm.calls()).toHaveLength(0)
    })
  }
})

describe('EKS Auto Mode: ConfigMap kube-system/amazon-vpc-cni enable-network-policy-controller', () => {
  it('creates it, keeps other keys of an existing one, and a rerun changes nothing', async () => {
    api.store.put({apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'amazon-vpc-cni', namespace: 'kube-system'}, data: {'some-other-setting': 'x'}})
    const first = await ensureNetworkPolicyEnforcement({client: c, eks: eksOpts({autoMode: true})})
    expect(first).toMatchObject({enforcer: 'eks-auto-mode', state: 'enforced', action: 'updated'})
    expect(api.store.get('v1', 'ConfigMap', 'kube-system', 'amazon-vpc-cni')!.data).toEqual({'some-other-setting': 'x', 'enable-network-policy-controller': 'true'})
    const second = await ensureNetworkPolicyEnforcement({client: c, eks: eksOpts({autoMode: true})})
    expect(second.action).toBe('unchanged')
    // Auto Mode has no vpc-cni add-on to call
    expect(eksm.calls()).toHaveLength(0)
  })

  it('dry run writes nothing; a real run creates the ConfigMap', async () => {
    expect((await ensureNetworkPolicyEnforcement({client: c, eks: eksOpts({autoMode: true}), dryRun: true})).action).toBe('create')
    expect(api.store.get('v1', 'ConfigMap', 'kube-system', 'amazon-vpc-cni')).toBeUndefined()
    expect((await ensureNetworkPolicyEnforcement({client: c, eks: eksOpts({autoMode: true})})).action).toBe('created')
    expect(api.store.get('v1', 'ConfigMap', 'kube-system', 'amazon-vpc-cni')!.data).toEqual({'enable-network-policy-controller': 'true'})
  })

  it('another manager set the key to "false" (server-side apply conflict): a warning, not a forced override', async () => {
    // kubectl apply --server-side with its own field manager, as a user would
    await c.request('PATCH', '/api/v1/namespaces/kube-system/configmaps/amazon-vpc-cni', {
      body: {apiVersion: 'v1', kind: 'ConfigMap', metadata: {name: 'amazon-vpc-cni', namespace: 'kube-system'}, data: {'enable-network-policy-controller': 'false'}},
      contentType: 'application/apply-patch+yaml',
      query: {fieldManager: 'kubectl'},
    })
    const r = await ensureNetworkPolicyEnforcement({client: c, eks: eksOpts({autoMode: true})})
    expect(r.state).toBe('not-enforced')
    expect(r.warning!.fix).toContain('kubectl -n kube-system patch configmap amazon-vpc-cni')
    expect(api.store.get('v1', 'ConfigMap', 'kube-system', 'amazon-vpc-cni')!.data!['enable-network-policy-controller']).toBe('false')
  })

  it('status reads it back (NodeClass CRD = Auto Mode): off, then on', async () => {
    api.registerCrd({group: 'eks.amazonaws.com', version: 'v1', kind: 'NodeClass', namespaced: false})
    c.invalidateDiscovery()
    const before = await networkPolicyStatus(c)
    expect(before).toMatchObject({enforcer: 'eks-auto-mode', state: 'not-enforced'})
    expect(before.warning).toBeDefined()
    await ensureNetworkPolicyEnforcement({client: c, eks: eksOpts({autoMode: true})})
    expect(await networkPolicyStatus(c)).toMatchObject({enforcer: 'eks-auto-mode', state: 'enforced'})
  })
})

describe('not EKS (--skip-eks): reads, never changes, warns', () => {
  it('VPC CNI agent off: not enforced, with a warning', async () => {
    api.store.put(awsNode(false))
    const r = await ensureNetworkPolicyEnforcement({client: c})
    expect(r.state).toBe('not-enforced')
    expect(r.warning!.message).toContain('NOT enforced')
  })
  it('an EKS Auto Mode cluster (NodeClass CRD) bootstrapped with --skip-eks still gets its ConfigMap', async () => {
    api.registerCrd({group: 'eks.amazonaws.com', version: 'v1', kind: 'NodeClass', namespaced: false})
    c.invalidateDiscovery()
    const r = await ensureNetworkPolicyEnforcement({client: c})
    expect(r).toMatchObject({enforcer: 'eks-auto-mode', state: 'enforced', action: 'created'})
    expect(api.store.get('v1', 'ConfigMap', 'kube-system', 'amazon-vpc-cni')!.data!['enable-network-policy-controller']).toBe('true')
  })
  it('no known plugin: unknown, with a warning; status agrees', async () => {
    const r = await ensureNetworkPolicyEnforcement({client: c})
    expect(r.state).toBe('unknown')
    expect(r.warning).toBeDefined()
    expect((await networkPolicyStatus(c)).state).toBe('unknown')
  })
  it('runBootstrap --skip-eks carries the warning into its result', async () => {
    api.store.put(awsNode(false))
    const events: string[] = []
    const r = await runBootstrap({
      clusterName: 'prod',
      kubeconfig: {path: api.kubeconfigPath},
      kubeClient: async () => c,
      platform: {modelNamespace: 'aip-models', gatewayNamespace: 'aip-gateway', monitoringNamespace: 'monitoring', tenants: [], gpuLimit: 4},
      onEvent: (e) => events.push(`${e.step} ${e.message}`),
    })
    expect(r.networkPolicy!.state).toBe('not-enforced')
    expect(r.warnings).toEqual([expect.objectContaining({step: 'netpol', message: expect.stringContaining('NOT enforced')})])
    expect(events.some((e) => e.startsWith('netpol WARNING: NetworkPolicies are NOT enforced'))).toBe(true)
  })
})
