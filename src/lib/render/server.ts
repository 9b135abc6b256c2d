import type {CatalogEntry} from '../catalog/schema.js'
import {UsageError} from '../errors.js'
import {findGpu, instancesFor} from '../gpufit/gpus.js'
import type {KubeObject} from '../kube/types.js'
import {cacheEnv, containerSecurityContext, labelsFor, objectName, podSecurityContext, type RenderOptions, s3Env, SERVER_SERVICE_ACCOUNT, serverMeta, serverSelector, TRACK_LABEL, VLLM_PORT} from './common.js'
import {ADAPTER_SYNC_SCRIPT, READINESS_SCRIPT, SERVE_RESOLVED_SCRIPT, WAIT_FOR_WEIGHTS_SCRIPT} from './scripts.js'
import {wakeAnnotations, wakeEnabled} from './wake.js'
import {weightsLocation} from './weights.js'

/** GPU nodes of every provisioner carry this taint (aip's NodePools and --gpu-nodegroup set it; EKS Auto Mode and the NVIDIA GPU AMIs' convention). */
export const GPU_TOLERATIONS = [{key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule'}]

export const INSTANCE_TYPE_LABEL = 'node.kubernetes.io/instance-type'
/** The GPU type a Deployment was rendered for (`model list` shows it). */
export const GPU_TYPE_ANNOTATION = 'aip.dev/gpu'

/**
 * Node requirements for the entry's GPU: the well-known `node.kubernetes.io/instance-type` label,
 * which the kubelet sets on every node (managed node groups, EKS Auto Mode, Karpenter, self-managed),
 * In the instance types that carry at least `count` of that GPU, from gpu-fit's GPU table (the one
 * owner of that knowledge). Karpenter's `karpenter.k8s.aws/instance-gpu-name` exists only on
 * Karpenter nodes, Auto Mode's `eks.amazonaws.com/instance-gpu-name` only on Auto Mode nodes.
 */
export function gpuNodeRequirements(gpu: {type: string; count: number}): Array<{key: string; operator: 'In'; values: string[]}> {
  const g = findGpu(gpu.type)
  const types = instancesFor(g, gpu.count)
  if (types.length === 0) {
    throw new UsageError(`no AWS instance type carries ${gpu.count} ${g.name} GPUs`, {fix: `use at most ${Math.max(...g.instances.map((i) => i.gpus))} GPUs per replica (--gpus), or another --gpu`})
  }
  return [{key: INSTANCE_TYPE_LABEL, operator: 'In', values: types}]
}

/**
 * `vllm serve` arguments from the entry. The first is the weights' s3:// URI for a pinned revision;
 * for a branch it is left out (the start command reads the commit the init container resolved).
 */
export function vllmArgs(entry: CatalogEntry, opts: RenderOptions): string[] {
  const v = entry.vllm
  const w = weightsLocation({bucket: opts.bucket, prefix: opts.prefix, repo: entry.hf.repo, revision: entry.hf.revision})
  const args = [
    ...(w.pinned ? [w.uri!] : []),
    // Weights stream from S3 straight into GPU memory (Run:ai Model Streamer): no local copy, no init
    // container, and concurrent reads make the load faster than a sync to disk followed by a read.
    '--load-format',
    'runai_streamer',
    '--served-model-name',
    entry.servedModelName,
    '--host',
    '0.0.0.0',
    '--port',
    String(VLLM_PORT),
    '--max-model-len',
    String(v.maxModelLen),
    '--max-num-seqs',
    String(v.maxNumSeqs),
    '--dtype',
    v.dtype,
    '--tensor-parallel-size',
    String(entry.gpu.count),
    '--gpu-memory-utilization',
    String(v.gpuMemoryUtilization ?? opts.gpuMemoryUtilization ?? 0.9),
  ]
  if (v.quantization) args.push('--quantization', v.quantization)
  if (v.kvCacheDtype) args.push('--kv-cache-dtype', v.kvCacheDtype)
  if (v.toolCallParser) args.push('--tool-call-parser', v.toolCallParser)
  if (v.enableAutoToolChoice) args.push('--enable-auto-tool-choice')
  if (entry.lora.length > 0) {
    args.push('--enable-lora', '--max-loras', String(Math.min(entry.lora.length, 8)), '--lora-modules', ...entry.lora.map((l) => `${l.name}=/adapters/${l.name}`))
  }
  args.push(...v.extraArgs)
  return args
}

function shmSize(entry: CatalogEntry): string {
  // NCCL between tensor-parallel ranks uses /dev/shm; one GPU needs little. Counts against memory.
  return entry.gpu.count > 1 ? `${Math.min(16, 4 * entry.gpu.count)}Gi` : '2Gi'
}

export function renderDeployment(entry: CatalogEntry, opts: RenderOptions, podAnnotations: Record<string, string> = {}): KubeObject {
  const requests: Record<string, string> = {cpu: entry.resources.cpu, memory: entry.resources.memory, 'nvidia.com/gpu': String(entry.gpu.count)}
  if (entry.resources.ephemeralStorage) requests['ephemeral-storage'] = entry.resources.ephemeralStorage
  // No CPU limit (throttling stalls the tokenizer and scheduler); memory and GPUs are limited.
  const limits: Record<string, string> = {memory: entry.resources.memory, 'nvidia.com/gpu': String(entry.gpu.count)}
  if (entry.resources.ephemeralStorage) limits['ephemeral-storage'] = entry.resources.ephemeralStorage

  const volumes: Array<Record<string, unknown>> = [
    {name: 'dshm', emptyDir: {medium: 'Memory', sizeLimit: shmSize(entry)}},
    {name: 'cache', emptyDir: {sizeLimit: '8Gi'}},
    {name: 'tmp', emptyDir: {sizeLimit: '4Gi'}},
  ]
  const mounts: Array<Record<string, unknown>> = [
    {name: 'dshm', mountPath: '/dev/shm'},
    {name: 'cache', mountPath: '/cache'},
    {name: 'tmp', mountPath: '/tmp'},
  ]
  const weights = weightsLocation({bucket: opts.bucket, prefix: opts.prefix, repo: entry.hf.repo, revision: entry.hf.revision})
  const initContainers: Array<Record<string, unknown>> = [
    {
      name: 'wait-for-weights',
      image: entry.image,
      imagePullPolicy: 'IfNotPresent',
      command: ['python3', '-c', WAIT_FOR_WEIGHTS_SCRIPT],
      env: [{name: 'AIP_BUCKET', value: opts.bucket}, {name: 'AIP_MODEL_KEY', value: weights.modelKey}, {name: 'AIP_REVISION', value: weights.revision}, ...s3Env(opts), ...cacheEnv()],
      resources: {requests: {cpu: '100m', memory: '256Mi'}, limits: {memory: '512Mi'}},
      securityContext: containerSecurityContext(),
      volumeMounts: [
        {name: 'cache', mountPath: '/cache'},
        {name: 'tmp', mountPath: '/tmp'},
      ],
    },
  ]
  if (entry.lora.length > 0) {
    volumes.push({name: 'adapters', emptyDir: {sizeLimit: '4Gi'}})
    mounts.push({name: 'adapters', mountPath: '/adapters', readOnly: true})
    const adapters = entry.lora.map((l) => {
      const a = weightsLocation({bucket: opts.bucket, prefix: opts.prefix, repo: l.repo, revision: l.revision})
      return {name: l.name, modelKey: a.modelKey, revision: a.revision}
    })
    initContainers.push({
      name: 'adapters',
      image: entry.image,
      imagePullPolicy: 'IfNotPresent',
      command: ['python3', '-c', ADAPTER_SYNC_SCRIPT],
      env: [{name: 'AIP_BUCKET', value: opts.bucket}, {name: 'AIP_ADAPTERS', value: JSON.stringify(adapters)}, ...s3Env(opts), ...cacheEnv()],
      resources: {requests: {cpu: '500m', memory: '1Gi'}, limits: {memory: '1Gi'}},
      securityContext: containerSecurityContext(),
      volumeMounts: [
        {name: 'adapters', mountPath: '/adapters'},
        {name: 'cache', mountPath: '/cache'},
        {name: 'tmp', mountPath: '/tmp'},
      ],
    })
  }

  const container = {
    name: 'vllm',
    image: entry.image,
    imagePullPolicy: 'IfNotPresent',
    command: weights.pinned ? ['vllm', 'serve'] : ['/bin/sh', '-c', SERVE_RESOLVED_SCRIPT, 'vllm-serve'],
    args: vllmArgs(entry, opts),
    ports: [{name: 'http', containerPort: VLLM_PORT, protocol: 'TCP'}],
    env: [
      {name: 'AIP_SERVED_MODEL', value: entry.servedModelName},
      {name: 'AIP_PORT', value: String(VLLM_PORT)},
      // Run:ai streamer: concurrent S3 readers and a CPU staging buffer bounded below the memory limit.
      {name: 'RUNAI_STREAMER_CONCURRENCY', value: '16'},
      {name: 'RUNAI_STREAMER_MEMORY_LIMIT', value: String(2 * 2 ** 30)},
      ...s3Env(opts),
      ...cacheEnv(),
    ],
    resources: {requests, limits},
    securityContext: containerSecurityContext(),
    volumeMounts: mounts,
    // Loading takes minutes (weights, CUDA graphs): the startup probe allows 30 min before liveness
    // may restart the container, and holds readiness/liveness off until /health answers.
    startupProbe: {httpGet: {path: '/health', port: 'http'}, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 180},
    livenessProbe: {httpGet: {path: '/health', port: 'http'}, periodSeconds: 15, timeoutSeconds: 5, failureThreshold: 4},
    // Ready only after a real completion succeeded in this process (see READINESS_SCRIPT), so the
    // Service never routes to a server whose first request would hit cold kernels or fail.
    readinessProbe: {exec: {command: ['python3', '-c', READINESS_SCRIPT]}, periodSeconds: 10, timeoutSeconds: 12, failureThreshold: 3, successThreshold: 1},
  }

  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: serverMeta(entry, opts, 'server', {'aip.dev/hf-repo': entry.hf.repo, 'aip.dev/hf-revision': entry.hf.revision, [GPU_TYPE_ANNOTATION]: entry.gpu.type, ...(wakeEnabled(entry, opts) ? wakeAnnotations(entry, {...opts, wake: opts.wake!}) : {})}),
    spec: {
      // No `replicas`: the autoscaler (ScaledObject or HPA, always rendered) owns it. Applying it
      // would reset a scaled-out model to the floor on every `aip model deploy`; left out, a new
      // Deployment starts at 1 and the autoscaler raises it to minReplicas.
      revisionHistoryLimit: 3,
      selector: {matchLabels: serverSelector(entry, opts)},
      // A new replica needs a GPU node; never take one down before its successor serves.
      strategy: {type: 'RollingUpdate', rollingUpdate: {maxSurge: 1, maxUnavailable: 0}},
      progressDeadlineSeconds: 1800,
      template: {
        metadata: {
          labels: {...labelsFor(entry, 'server'), ...serverSelector(entry, opts), ...(opts.track ? {[TRACK_LABEL]: opts.track} : {})},
          annotations: {'aip.dev/hf-revision': entry.hf.revision, 'aip.dev/weights': weights.display, ...podAnnotations},
        },
        spec: {
          serviceAccountName: SERVER_SERVICE_ACCOUNT,
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          terminationGracePeriodSeconds: 60,
          securityContext: podSecurityContext(),
          nodeSelector: {'kubernetes.io/os': 'linux'},
          affinity: {nodeAffinity: {requiredDuringSchedulingIgnoredDuringExecution: {nodeSelectorTerms: [{matchExpressions: gpuNodeRequirements(entry.gpu)}]}}},
          tolerations: GPU_TOLERATIONS,
          initContainers,
          containers: [container],
          volumes,
        },
      },
    },
  }
}

export function renderService(entry: CatalogEntry, opts: RenderOptions): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: serverMeta(entry, opts, 'server'),
    spec: {
      type: 'ClusterIP',
      selector: serverSelector(entry, opts),
      ports: [{name: 'http', port: VLLM_PORT, targetPort: 'http', protocol: 'TCP'}],
    },
  }
}

export function renderPodDisruptionBudget(entry: CatalogEntry, opts: RenderOptions): KubeObject {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: serverMeta(entry, opts, 'server'),
    // One replica at a time: consolidation and node drains proceed (minAvailable would block them
    // forever at one replica), but never take several loaded replicas down together.
    spec: {maxUnavailable: 1, selector: {matchLabels: serverSelector(entry, opts)}, unhealthyPodEvictionPolicy: 'AlwaysAllow'},
  }
}

/** The in-cluster endpoint of a model. */
export function endpointOf(entry: Pick<CatalogEntry, 'name'>, namespace: string): string {
  return `http://${objectName(entry.name)}.${namespace}.svc:${VLLM_PORT}/v1`
}
