import {chmodSync, mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'

import {ADDON_CHARTS, type BootstrapEvent, type BootstrapOptions, execaHelm, runBootstrap} from '../../../src/lib/bootstrap/index.js'
import {findGpu} from '../../../src/lib/gpufit/gpus.js'
import {clusterStatus} from '../../../src/lib/bootstrap/status.js'
import {AipError, InterruptedError, NotFoundError} from '../../../src/lib/errors.js'
import type {KubeClient} from '../../../src/lib/kube/index.js'
import {HTTP_SCALED_OBJECT_CRD} from '../../support/keda-http.mjs'
import {type KubeApiServer, startKubeApiServer} from '../../support/kube-apiserver/index.mjs'
import {systemNode} from '../../support/kube-apiserver/nodes.mjs'
import {client} from '../teardown/fixtures.js'

let api: KubeApiServer
let c: KubeClient

beforeEach(async () => {
  api = await startKubeApiServer({nodes: [systemNode()]})
  c = await client(api)
})
afterEach(async () => {
  await api.stop()
})

const opts = (extra: Partial<BootstrapOptions> = {}): BootstrapOptions => ({
  clusterName: 'prod',
  kubeconfig: {path: api.kubeconfigPath},
  kubeClient: async () => c,
  platform: {modelNamespace: 'aip-models', gatewayNamespace: 'aip-gateway', monitoringNamespace: 'monitoring', tenants: [{name: 'team-a', gpus: 2}], gpuLimit: 16},
  ...extra,
})

const deployment = (ns: string, name: string, ready: number) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: {name, namespace: ns},
  spec: {replicas: 1, selector: {matchLabels: {app: name}}, template: {metadata: {labels: {app: name}}, spec: {containers: [{name, image: name}]}}},
  status: {replicas: 1, readyReplicas: ready},
})

describe('runBootstrap against an API server', () => {
  it('applies the base; the Karpenter NodePool only once Karpenter CRDs exist', async () => {
    const first = await runBootstrap(opts())
    expect(first.karpenter.installed).toBe(false)
    expect(api.store.get('v1', 'Namespace', undefined, 'aip-models')).toBeDefined()
    expect(api.store.get('networking.k8s.io/v1', 'NetworkPolicy', 'team-a', 'default-deny')).toBeDefined()
    expect(first.objects.every((o) => o.action === 'created')).toBe(true)

    api.registerCrd({group: 'karpenter.sh', version: 'v1', kind: 'NodePool', namespaced: false})
    api.registerCrd({group: 'karpenter.k8s.aws', version: 'v1', kind: 'EC2NodeClass', namespaced: false, plural: 'ec2nodeclasses'})
    c.invalidateDiscovery()
    const second = await runBootstrap(opts())
    expect(second.objects.every((o) => o.action === 'unchanged')).toBe(true)
    expect(second.karpenter.installed).toBe(true)
    const pool = api.store.get('karpenter.sh/v1', 'NodePool', undefined, 'aip-gpu')!
    expect(pool.spec.limits['nvidia.com/gpu']).toBe('16')
    expect(pool.metadata.labels!['app.kubernetes.io/managed-by']).toBe('aip')
    expect(api.store.get('karpenter.k8s.aws/v1', 'EC2NodeClass', undefined, 'aip-gpu')!.spec.role).toBe('KarpenterNodeRole-prod')
    // the requested GPUs' instance types from gpu-fit's table, not Karpenter-only GPU labels
    expect(second.gpuPool.provisioner).toBe('karpenter')
    expect(pool.spec.template.spec.requirements).toContainEqual({key: 'node.kubernetes.io/instance-type', operator: 'In', values: findGpu('l40s').instances.map((i) => i.type)})
    expect(JSON.stringify(pool.spec)).not.toContain('instance-gpu')
  })

  it('EKS Auto Mode (its NodeClass CRD): the GPU NodePool on NodeClass default for the --gpu types; device plugin and Karpenter count as built in', async () => {
    api.registerCrd({group: 'karpenter.sh', version: 'v1', kind: 'NodePool', namespaced: false})
    api.registerCrd({group: 'eks.amazonaws.com', version: 'v1', kind: 'NodeClass', namespaced: false})
    const r = await runBootstrap(opts({platform: {...opts().platform, gpuTypes: ['l40s', 'l4'], gpuLimit: 4}}))
    expect(r.gpuPool.provisioner).toBe('auto-mode')
    expect(r.karpenter.installed).toBe(false)
    const pool = api.store.get('karpenter.sh/v1', 'NodePool', undefined, 'aip-gpu')!
    expect(pool.spec.template.spec.nodeClassRef).toEqual({group: 'eks.amazonaws.com', kind: 'NodeClass', name: 'default'})
    expect(pool.spec.template.spec.taints).toEqual([{key: 'nvidia.com/gpu', value: 'true', effect: 'NoSchedule'}])
    expect(pool.spec.limits['nvidia.com/gpu']).toBe('4')
    const types = pool.spec.template.spec.requirements.find((x: any) => x.key === 'node.kubernetes.io/instance-type').values
    expect(types).toEqual(expect.arrayContaining(['g6e.xlarge', 'g6e.12xlarge', 'g6.xlarge', 'gr6.4xlarge']))
    expect(types).not.toContain('g5.xlarge')
    expect(Object.fromEntries(r.addons.map((a) => [a.name, a.message]))).toMatchObject({'nvidia-device-plugin': 'built into EKS Auto Mode', karpenter: 'built into EKS Auto Mode'})
    const again = await runBootstrap(opts({platform: {...opts().platform, gpuTypes: ['l40s', 'l4'], gpuLimit: 4}}))
    expect([...again.objects, ...again.gpuPool.objects].every((o) => o.action === 'unchanged')).toBe(true)
  })

  it('model and tenant namespaces get the two ServiceAccounts; the tenant Role allows exactly what model deploy writes', async () => {
    await runBootstrap(opts())
    for (const ns of ['aip-models', 'team-a']) {
      for (const sa of ['aip-model-server', 'aip-preload']) expect(api.store.get('v1', 'ServiceAccount', ns, sa)?.automountServiceAccountToken).toBe(false)
    }
    const role = api.store.get('rbac.authorization.k8s.io/v1', 'Role', 'team-a', 'aip-tenant-edit')!
    const can = (group: string, resource: string, verb: string, name?: string) =>
      role.rules.some((r: any) => r.apiGroups.includes(group) && r.resources.includes(resource) && r.verbs.includes(verb) && (!r.resourceNames || (name && r.resourceNames.includes(name))))
    // every kind a deploy renders, with the verbs server-side apply, diff, wait and delete use
    const {renderModel} = await import('../../../src/lib/render/index.js')
    const {getCatalogEntry} = await import('../../../src/lib/catalog/index.js')
    const objs = renderModel(getCatalogEntry('qwen3-8b'), {namespace: 'team-a', gatewayNamespace: 'g', monitoringNamespace: 'm', bucket: 'b', prefix: 'models', prometheusUrl: 'http://p', capabilities: {keda: true, serviceMonitor: true, prometheusRule: true}}).objects
    const noKeda = renderModel(getCatalogEntry('qwen3-8b'), {namespace: 'team-a', gatewayNamespace: 'g', monitoringNamespace: 'm', bucket: 'b', prefix: 'models', prometheusUrl: 'http://p', capabilities: {keda: false, serviceMonitor: false, prometheusRule: false}}).objects
    const plural: Record<string, string> = {NetworkPolicy: 'networkpolicies', Job: 'jobs', Service: 'services', Deployment: 'deployments', PodDisruptionBudget: 'poddisruptionbudgets', ScaledObject: 'scaledobjects', ServiceMonitor: 'servicemonitors', PrometheusRule: 'prometheusrules', HorizontalPodAutoscaler: 'horizontalpodautoscalers'}
    for (const o of [...objs, ...noKeda]) {
      const group = o.apiVersion.includes('/') ? o.apiVersion.split('/')[0]! : ''
      for (const verb of ['get', 'create', 'patch', 'delete']) expect(can(group, plural[o.kind]!, verb), `${verb} ${o.kind}`).toBe(true)
    }
    // reads for status/diagnosis and the deploy preflight; the HF token Secret by name only
    expect(can('', 'pods/log', 'get')).toBe(true)
    expect(can('', 'serviceaccounts', 'get')).toBe(true)
    expect(can('', 'serviceaccounts', 'create')).toBe(false)
    expect(can('', 'secrets', 'get', 'aip-hf-token')).toBe(true)
    expect(can('', 'secrets', 'get', 'other')).toBe(false)
    // nothing else: no StatefulSets, ConfigMaps, CronJobs, RBAC
    for (const [g, r] of [['apps', 'statefulsets'], ['batch', 'cronjobs'], ['rbac.authorization.k8s.io', 'roles']]) expect(can(g!, r!, 'create')).toBe(false)
    // the models' revision history (ConfigMaps aip-history-NAME): deploy writes, delete removes it
    for (const verb of ['get', 'create', 'update', 'delete']) expect(can('', 'configmaps', verb), `${verb} configmaps`).toBe(true)
    expect(can('', 'configmaps', 'patch')).toBe(false)
  })

  it('dry run diffs against the cluster and changes nothing', async () => {
    await runBootstrap(opts())
    const rv = api.store.resourceVersion()
    const r = await runBootstrap(opts({dryRun: true, platform: {...opts().platform, tenants: [{name: 'team-a', gpus: 4}, {name: 'team-b', gpus: 1}]}}))
    const action = (kind: string, ns: string | undefined, name: string) => r.objects.find((o) => o.kind === kind && o.namespace === ns && o.name === name)?.action
    expect(action('ResourceQuota', 'team-a', 'aip-quota')).toBe('update')
    expect(action('LimitRange', 'team-a', 'aip-defaults')).toBe('unchanged')
    expect(action('Namespace', undefined, 'team-b')).toBe('create')
    expect(action('ResourceQuota', 'team-b', 'aip-quota')).toBe('create')
    expect(api.store.get('v1', 'ResourceQuota', 'team-a', 'aip-quota')!.spec.hard['requests.nvidia.com/gpu']).toBe('2')
    expect(api.store.get('v1', 'Namespace', undefined, 'team-b')).toBeUndefined()
    expect(api.store.resourceVersion()).toBe(rv)
  })

  it('an interrupted run, rerun, continues', async () => {
    const ac = new AbortController()
    let applied = 0
    const err = await runBootstrap(
      opts({
        signal: ac.signal,
        onEvent: (e: BootstrapEvent) => {
          if (e.step === 'platform' && e.status === 'progress' && ++applied === 3) ac.abort(new InterruptedError())
        },
      }),
    ).catch((error: unknown) => error)
    expect(err).toBeInstanceOf(AipError)
    const r = await runBootstrap(opts())
    const created = r.objects.filter((o) => o.action === 'created').length
    const unchanged = r.objects.filter((o) => o.action === 'unchanged').length
    expect(unchanged).toBeGreaterThanOrEqual(3)
    expect(created).toBeGreaterThan(0)
    expect(created + unchanged).toBe(r.objects.length)
  })

  it('detects add-ons and installs the missing ones with helm upgrade --install', async () => {
    // KEDA present and healthy; the NVIDIA device plugin present but not ready; no Prometheus operator
    api.registerCrd({group: 'keda.sh', version: 'v1alpha1', kind: 'ScaledObject'})
    api.store.put({apiVersion: 'v1', kind: 'Namespace', metadata: {name: 'keda'}})
    api.setDeploymentBehavior('keda', 'keda-operator', {mode: 'ready', readyDelayMs: 0})
    api.store.put(deployment('keda', 'keda-operator', 1))
    api.store.put({apiVersion: 'v1', kind: 'Namespace', metadata: {name: 'nvidia-device-plugin'}})
    api.store.put({apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: {name: 'nvidia-device-plugin-daemonset', namespace: 'nvidia-device-plugin'}, spec: {selector: {matchLabels: {a: 'b'}}, template: {metadata: {labels: {a: 'b'}}, spec: {containers: [{name: 'p', image: 'p'}]}}}, status: {desiredNumberScheduled: 2, numberReady: 1}})
    const calls: string[][] = []
    const helm = async (args: string[]) => {
      calls.push(args)
      // what the chart would install
      if (args[2] === 'kube-prometheus-stack') {
        api.registerCrd({group: 'monitoring.coreos.com', version: 'v1', kind: 'ServiceMonitor'})
        api.registerCrd({group: 'monitoring.coreos.com', version: 'v1', kind: 'PrometheusRule'})
        api.store.put({apiVersion: 'v1', kind: 'Namespace', metadata: {name: 'monitoring'}})
        api.store.put(deployment('monitoring', 'kube-prometheus-stack-operator', 0))
        // helm --wait returns once the operator is ready
        // helm --wait returns once the operator is ready
        const ready = () => api.store.get('apps/v1', 'Deployment', 'monitoring', 'kube-prometheus-stack-operator')?.status?.readyReplicas === 1
        for (let i = 0; i < 250 && !ready(); i++) await new Promise((r) => setTimeout(r, 20))
      }
      if (args[2] === 'keda-add-ons-http') {
        api.registerCrd(HTTP_SCALED_OBJECT_CRD)
        api.setDeploymentBehavior('keda', 'keda-add-ons-http-interceptor', {mode: 'ready', readyDelayMs: 0})
        api.store.put(deployment('keda', 'keda-add-ons-http-interceptor', 0))
        const ready = () => api.store.get('apps/v1', 'Deployment', 'keda', 'keda-add-ons-http-interceptor')?.status?.readyReplicas === 1
        for (let i = 0; i < 250 && !ready(); i++) await new Promise((r) => setTimeout(r, 20))
      }
      if (args[2] === 'nvidia-device-plugin') {
        const ds = api.store.get('apps/v1', 'DaemonSet', 'nvidia-device-plugin', 'nvidia-device-plugin-daemonset')!
        api.store.put({...ds, status: {desiredNumberScheduled: 2, numberReady: 2}})
      }
      if (args[2] === 'dcgm-exporter') {
        api.store.put({apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: {name: 'dcgm-exporter', namespace: 'monitoring'}, spec: {selector: {matchLabels: {a: 'd'}}, template: {metadata: {labels: {a: 'd'}}, spec: {containers: [{name: 'd', image: 'd'}]}}}, status: {desiredNumberScheduled: 1, numberReady: 1}})
      }
      return ''
    }
    const r = await runBootstrap(opts({installAddons: true, helm, kubeconfig: {path: api.kubeconfigPath, context: api.contextName}}))
    // the Prometheus operator (ServiceMonitor CRD) before the DCGM exporter whose chart creates a ServiceMonitor
    expect(calls.map((a) => a[2])).toEqual(['keda-add-ons-http', 'kube-prometheus-stack', 'nvidia-device-plugin', 'dcgm-exporter'])
    // the HTTP add-on goes next to KEDA (its external scaler is a KEDA trigger)
    expect(calls[0]).toEqual(expect.arrayContaining(['keda-add-ons-http', '--repo', 'https://kedacore.github.io/charts', '--namespace', 'keda']))
    // every chart at the version pinned in the one table
    for (const c of calls) expect(c[c.indexOf('--version') + 1]).toBe(Object.values(ADDON_CHARTS).find((x) => x.chart === c[3])!.version)
    const dcgm = calls.find((a) => a[2] === 'dcgm-exporter')!
    expect(dcgm).toEqual(expect.arrayContaining(['--repo', 'https://nvidia.github.io/dcgm-exporter/helm-charts', 'serviceMonitor.enabled=true']))
    const affinity = JSON.parse(dcgm[dcgm.findIndex((x) => x.startsWith('affinity='))]!.slice('affinity='.length))
    expect(affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0]).toMatchObject({key: 'node.kubernetes.io/instance-type', operator: 'In'})
    expect(dcgm).toContain('tolerations=[{"key":"nvidia.com/gpu","operator":"Exists","effect":"NoSchedule"}]')
    const prom = calls.find((a) => a[2] === 'kube-prometheus-stack')!
    expect(prom.slice(0, 6)).toEqual(['upgrade', '--install', 'kube-prometheus-stack', 'kube-prometheus-stack', '--repo', 'https://prometheus-community.github.io/helm-charts'])
    expect(prom).toEqual(expect.arrayContaining(['--namespace', 'monitoring', '--create-namespace', '--wait', '--kube-context', 'aip-test', '--kubeconfig', api.kubeconfigPath]))
    expect(prom).toContain('prometheus.prometheusSpec.serviceMonitorSelectorNilUsesHelmValues=false')
    const state = Object.fromEntries(r.addons.map((a) => [a.name, [a.state, a.action]]))
    expect(state).toEqual({keda: ['healthy', 'none'], 'keda-http-add-on': ['healthy', 'installed'], 'prometheus-operator': ['healthy', 'installed'], 'nvidia-device-plugin': ['healthy', 'installed'], 'dcgm-exporter': ['healthy', 'installed'], karpenter: ['missing', 'none']})
  })

  it('helm missing from PATH: NotFoundError naming how to install it', async () => {
    const old = process.env.PATH
    process.env.PATH = mkdtempSync(join(tmpdir(), 'aip-empty-'))
    try {
      const err = await execaHelm(['version'], {}).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(NotFoundError)
      expect((err as AipError).fix).toContain('helm')
    } finally {
      process.env.PATH = old
    }
  })

  it('a failing helm reports its last stderr line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'aip-helm-'))
    writeFileSync(join(dir, 'helm'), `#!/bin/sh\necho "$@" > "${dir}/args"\necho 'Error: INSTALLATION FAILED: context deadline exceeded' >&2\nexit 1\n`)
    chmodSync(join(dir, 'helm'), 0o755)
    const old = process.env.PATH
    process.env.PATH = `${dir}:${old}`
    try {
      const err = (await execaHelm(['upgrade', '--install', 'keda', 'keda'], {}).catch((e: unknown) => e)) as AipError
      expect(err.message).toContain('context deadline exceeded')
      expect(readFileSync(join(dir, 'args'), 'utf8').trim()).toBe('upgrade --install keda keda')
    } finally {
      process.env.PATH = old
    }
  })

  it('status lists platform components and tenants after bootstrap', async () => {
    await runBootstrap(opts())
    const s = await clusterStatus({client: c, modelNamespace: 'aip-models', monitoringNamespace: 'monitoring'})
    expect(s.platform).toEqual([
      {name: 'namespace aip-models', state: 'healthy', message: 'Pod Security enforce=restricted'},
      {name: 'tenant team-a', state: 'healthy', message: expect.stringContaining('GPU quota 0/2')},
      // no network plugin known to enforce NetworkPolicy runs on this API server: said, not passed
      {name: 'network policies', state: 'degraded', message: expect.stringContaining('no network plugin known to enforce NetworkPolicy')},
    ])
    expect(s.networkPolicy).toMatchObject({state: 'unknown'})
    expect(s.addons.every((a) => a.state === 'missing')).toBe(true)
  })
})
