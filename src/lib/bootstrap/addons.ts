/**
 * Platform add-ons aip relies on but does not own: KEDA (scale to zero) and its HTTP add-on (wake on
 * a request: holds requests at an interceptor while a replica starts), the Prometheus operator
 * (ServiceMonitors, PrometheusRules; kube-prometheus-stack), the NVIDIA device plugin
 * (nvidia.com/gpu) and NVIDIA's DCGM exporter (the GPU metrics `aip metrics tail` reads, scraped
 * through the chart's monitoring.coreos.com ServiceMonitor). Detected through CRDs, Deployments and
 * DaemonSets; installed on request with `helm upgrade --install` (idempotent) through execa, at the
 * chart versions pinned in ADDON_CHARTS (the one table to bump, deliberately, after testing).
 */
import {AipError, NotFoundError} from '../errors.js'
import {GPUS} from '../gpufit/gpus.js'
import {crdExists, type KubeClient, type KubeObject} from '../kube/index.js'

export type AddonName = 'keda' | 'keda-http-add-on' | 'prometheus-operator' | 'nvidia-device-plugin' | 'dcgm-exporter' | 'karpenter'

export interface AddonStatus {
  name: AddonName
  /** installed and healthy | installed but not ready | missing */
  state: 'healthy' | 'degraded' | 'missing'
  /** Where it was found: crd:..., deployment ns/name, daemonset ns/name. */
  found: string[]
  message: string
  /** Installable with --install-addons (Karpenter is not: it needs IAM set up first). */
  installable: boolean
}

interface AddonDef {
  name: AddonName
  crds: Array<{group: string; kind: string}>
  workload: {kind: 'Deployment' | 'DaemonSet'; match: RegExp}
  helm?: HelmChart
  missingHint: string
}

export interface HelmChart {
  release: string
  chart: string
  repo: string
  namespace: string
  /** Pinned chart version (--version): an unpinned install takes whatever is newest that day. */
  version: string
  /** --set values */
  set: Record<string, string>
  /** --set-json values (structured ones: affinity, tolerations) */
  setJson?: Record<string, unknown>
}

/** Chart, repository and pinned version of every add-on aip installs (helm search repo NAME --versions). */
export const ADDON_CHARTS = {
  keda: {chart: 'keda', repo: 'https://kedacore.github.io/charts', version: '2.17.0'},
  // the KEDA HTTP add-on (scale from zero on a request, render/wake.ts): chart version = add-on
  // v0.15.0 (HTTPScaledObject timeouts.conditionWait, 504 past it). Not installed against a real
  // cluster from here: verify with `helm search repo kedacore/keda-add-ons-http --versions`.
  'keda-http-add-on': {chart: 'keda-add-ons-http', repo: 'https://kedacore.github.io/charts', version: '0.15.0'},
  'prometheus-operator': {chart: 'kube-prometheus-stack', repo: 'https://prometheus-community.github.io/helm-charts', version: '70.0.0'},
  'nvidia-device-plugin': {chart: 'nvidia-device-plugin', repo: 'https://nvidia.github.io/k8s-device-plugin', version: '0.17.1'},
  'dcgm-exporter': {chart: 'dcgm-exporter', repo: 'https://nvidia.github.io/dcgm-exporter/helm-charts', version: '3.6.1'},
} as const

/** GPU nodes: the instance types gpu-fit's table knows (every provisioner sets the label). */
function gpuNodeAffinity(): Record<string, unknown> {
  const types = [...new Set(GPUS.flatMap((g) => g.instances.map((i) => i.type)))]
  return {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchExpressions: [{key: 'node.kubernetes.io/instance-type', operator: 'In', values: types}]}]}}}
}

export function addonDefs(monitoringNamespace: string): AddonDef[] {
  return [
    {
      name: 'keda',
      crds: [{group: 'keda.sh', kind: 'ScaledObject'}],
      workload: {kind: 'Deployment', match: /^keda-operator$/},
      helm: {release: 'keda', ...ADDON_CHARTS.keda, namespace: 'keda', set: {}},
      missingHint: 'models get an HPA instead of scale-to-zero',
    },
    {
      // after KEDA: its external scaler is a KEDA trigger (external-push)
      name: 'keda-http-add-on',
      crds: [{group: 'http.keda.sh', kind: 'HTTPScaledObject'}],
      workload: {kind: 'Deployment', match: /^keda-add-ons-http-interceptor$/},
      helm: {release: 'keda-add-ons-http', ...ADDON_CHARTS['keda-http-add-on'], namespace: 'keda', set: {}},
      missingHint: 'a model scaled to zero does not wake on a request (its interceptor holds requests while a replica starts)',
    },
    {
      name: 'prometheus-operator',
      crds: [
        {group: 'monitoring.coreos.com', kind: 'ServiceMonitor'},
        {group: 'monitoring.coreos.com', kind: 'PrometheusRule'},
      ],
      workload: {kind: 'Deployment', match: /prometheus-operator$|^kube-prometheus-stack-operator$/},
      helm: {
        release: 'kube-prometheus-stack',
        ...ADDON_CHARTS['prometheus-operator'],
        namespace: monitoringNamespace,
        // pick up ServiceMonitors/PrometheusRules from every release (aip's are not labelled release=...)
        set: {
          'prometheus.prometheusSpec.serviceMonitorSelectorNilUsesHelmValues': 'false',
          'prometheus.prometheusSpec.podMonitorSelectorNilUsesHelmValues': 'false',
          'prometheus.prometheusSpec.ruleSelectorNilUsesHelmValues': 'false',
        },
      },
      missingHint: 'no ServiceMonitors: `aip metrics` and KEDA triggers have no Prometheus data',
    },
    {
      name: 'nvidia-device-plugin',
      crds: [],
      workload: {kind: 'DaemonSet', match: /nvidia-device-plugin/},
      helm: {
        release: 'nvidia-device-plugin',
        ...ADDON_CHARTS['nvidia-device-plugin'],
        namespace: 'nvidia-device-plugin',
        set: {},
        // only GPU nodes, which carry the nvidia.com/gpu taint
        setJson: {affinity: gpuNodeAffinity(), tolerations: [{key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule'}]},
      },
      missingHint: 'nodes advertise no nvidia.com/gpu: GPU pods stay Pending (EKS GPU AMIs with the NVIDIA add-on include it)',
    },
    {
      name: 'dcgm-exporter',
      crds: [],
      workload: {kind: 'DaemonSet', match: /dcgm-exporter/},
      helm: {
        release: 'dcgm-exporter',
        ...ADDON_CHARTS['dcgm-exporter'],
        namespace: monitoringNamespace,
        // the chart's ServiceMonitor (monitoring.coreos.com/v1), scraped by kube-prometheus-stack
        set: {'serviceMonitor.enabled': 'true', 'serviceMonitor.interval': '15s'},
        setJson: {affinity: gpuNodeAffinity(), tolerations: [{key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule'}]},
      },
      missingHint: 'no GPU metrics (DCGM_FI_*): `aip metrics tail` shows no GPU utilisation or memory',
    },
    {
      name: 'karpenter',
      crds: [{group: 'karpenter.sh', kind: 'NodePool'}],
      workload: {kind: 'Deployment', match: /^karpenter$/},
      missingHint: 'no GPU NodePool: GPU nodes must come from a managed node group (install Karpenter: https://karpenter.sh/docs/getting-started/)',
    },
  ]
}

async function listAll(client: KubeClient, kind: 'Deployment' | 'DaemonSet'): Promise<KubeObject[]> {
  const plural = kind === 'Deployment' ? 'deployments' : 'daemonsets'
  const list = await client.request<{items?: KubeObject[]}>('GET', `/apis/apps/v1/${plural}`)
  return list.items ?? []
}

function workloadReady(o: KubeObject): {ready: boolean; text: string} {
  const s = (o.status ?? {}) as Record<string, number | undefined>
  if (o.kind === 'DaemonSet') {
    const desired = s.desiredNumberScheduled ?? 0
    const ready = s.numberReady ?? 0
    return {ready: ready >= desired, text: `${ready}/${desired} ready${desired === 0 ? ' (no matching nodes yet)' : ''}`}
  }
  const want = ((o.spec as {replicas?: number} | undefined)?.replicas ?? 1)
  const ready = s.readyReplicas ?? 0
  return {ready: ready >= want && want > 0, text: `${ready}/${want} ready`}
}

/** Detects every add-on: CRDs present, workload present and ready. */
export async function detectAddons(client: KubeClient, monitoringNamespace: string): Promise<AddonStatus[]> {
  const defs = addonDefs(monitoringNamespace)
  const [deployments, daemonsets] = await Promise.all([listAll(client, 'Deployment'), listAll(client, 'DaemonSet')])
  const out: AddonStatus[] = []
  for (const d of defs) {
    const found: string[] = []
    const missingCrds: string[] = []
    for (const c of d.crds) {
      if (await crdExists(client, c.group, c.kind)) found.push(`crd ${c.kind}.${c.group}`)
      else missingCrds.push(`${c.kind}.${c.group}`)
    }
    const pool = (d.workload.kind === 'Deployment' ? deployments : daemonsets).map((o) => ({...o, kind: d.workload.kind}))
    const workloads = pool.filter((o) => d.workload.match.test(o.metadata.name))
    for (const w of workloads) found.push(`${d.workload.kind.toLowerCase()} ${w.metadata.namespace}/${w.metadata.name}`)
    let state: AddonStatus['state']
    let message: string
    if (workloads.length === 0 && missingCrds.length === d.crds.length) {
      state = 'missing'
      message = `not installed: ${d.missingHint}`
    } else if (workloads.length === 0) {
      state = 'degraded'
      message = `CRDs present but no ${d.workload.kind.toLowerCase()} found (controller not running)`
    } else if (missingCrds.length > 0) {
      state = 'degraded'
      message = `missing CRDs: ${missingCrds.join(', ')}`
    } else {
      const r = workloads.map(workloadReady)
      state = r.every((x) => x.ready) ? 'healthy' : 'degraded'
      message = r.map((x) => x.text).join(', ')
    }
    out.push({name: d.name, state, found, message, installable: Boolean(d.helm)})
  }
  return out
}

/** Runs helm with arguments; returns stdout. Injected in tests (a fake helm on PATH works too). */
export type HelmRunner = (args: string[], opts: {signal?: AbortSignal}) => Promise<string>

export const execaHelm: HelmRunner = async (args, opts) => {
  const {execa} = await import('execa')
  try {
    const r = await execa('helm', args, {cancelSignal: opts.signal, reject: true, stripFinalNewline: true, env: {HELM_NO_PLUGINS: '1'}})
    return r.stdout
  } catch (error) {
    const e = error as {code?: string; stderr?: string; shortMessage?: string; message: string}
    if (e.code === 'ENOENT') throw new NotFoundError('helm is not installed (needed for --install-addons)', {fix: 'install helm 3 (https://helm.sh/docs/intro/install/) or install the add-ons yourself and rerun without --install-addons'})
    const last = (e.stderr ?? '').trim().split('\n').filter(Boolean).at(-1) ?? e.shortMessage ?? e.message
    throw new AipError('FAILED', `helm ${args.slice(0, 3).join(' ')} failed: ${last}`, {fix: 'read helm\'s message above; rerun `aip cluster bootstrap --install-addons` after fixing it', cause: error})
  }
}

export function helmArgs(chart: HelmChart, kube: {kubeconfig?: string; context?: string}, timeout = '10m'): string[] {
  const args = ['upgrade', '--install', chart.release, chart.chart, '--repo', chart.repo, '--version', chart.version, '--namespace', chart.namespace, '--create-namespace', '--wait', '--timeout', timeout]
  for (const [k, v] of Object.entries(chart.set)) args.push('--set', `${k}=${v}`)
  for (const [k, v] of Object.entries(chart.setJson ?? {})) args.push('--set-json', `${k}=${JSON.stringify(v)}`)
  if (kube.kubeconfig) args.push('--kubeconfig', kube.kubeconfig)
  if (kube.context) args.push('--kube-context', kube.context)
  return args
}
