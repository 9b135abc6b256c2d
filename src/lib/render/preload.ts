import type {CatalogEntry} from '../catalog/schema.js'
import type {KubeObject} from '../kube/types.js'
import {approxWeightBytes, cacheEnv, containerSecurityContext, DEFAULT_HF_TOKEN_SECRET, giQuantity, labelsFor, meta, objectName, podSecurityContext, type RenderOptions, s3Env, shortHash} from './common.js'
import {PRELOAD_SCRIPT} from './scripts.js'
import {weightsLocation} from './weights.js'

/**
 * Name of the preload Job. A Job's `spec.template` is immutable (kube-apiserver answers 422
 * `spec.template: Invalid value: ...: field is immutable`, pkg/apis/batch/validation
 * ValidateJobSpecUpdate), so the name carries a hash of the whole pod template: the same template
 * re-applies as "unchanged", and anything that changes it (revision, adapters, --bucket, --prefix,
 * --image, endpoint, resources, script) is a new Job instead of a refused update.
 */
export function preloadJobName(entry: CatalogEntry, template: Record<string, unknown>): string {
  return `${objectName(entry.name)}-preload-${shortHash(stableJson(template))}`
}

/** JSON with object keys sorted, so the hash does not depend on the order fields were built in. */
function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map((x) => stableJson(x)).join(',')}]`
  if (v && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${stableJson((v as Record<string, unknown>)[k])}`)
      .join(',')}}`
  }
  return JSON.stringify(v)
}

export function preloadItems(entry: CatalogEntry, opts: Pick<RenderOptions, 'bucket' | 'prefix'>): Array<{repo: string; revision: string; modelKey: string}> {
  return [{repo: entry.hf.repo, revision: entry.hf.revision}, ...entry.lora.map((l) => ({repo: l.repo, revision: l.revision}))].map((x) => ({
    ...x,
    modelKey: weightsLocation({bucket: opts.bucket, prefix: opts.prefix, repo: x.repo, revision: x.revision}).modelKey,
  }))
}

export function renderPreloadJob(entry: CatalogEntry, opts: RenderOptions): KubeObject {
  const secret = opts.hfTokenSecret ?? DEFAULT_HF_TOKEN_SECRET
  const scratchBytes = approxWeightBytes(entry.config) * 1.15 + 2 * 2 ** 30
  const scratch = giQuantity(scratchBytes)
  // emptyDirs count against the pod's ephemeral-storage: scratch + cache + tmp.
  const disk = giQuantity(scratchBytes + 4 * 2 ** 30)
  const env: Array<Record<string, unknown>> = [
    {name: 'AIP_BUCKET', value: opts.bucket},
    {name: 'AIP_PRELOAD_ITEMS', value: JSON.stringify(preloadItems(entry, opts))},
    {name: 'HF_HUB_ENABLE_HF_TRANSFER', value: '1'},
    // The token is referenced from a Secret, never written into the manifest. Optional for public
    // repos, so a missing Secret does not block them; gated repos fail with the Hub's 401 instead.
    {name: 'HF_TOKEN', valueFrom: {secretKeyRef: {name: secret.name, key: secret.key, optional: !entry.hf.gated}}},
    ...(opts.hfEndpoint && opts.hfEndpoint !== 'https://huggingface.co' ? [{name: 'HF_ENDPOINT', value: opts.hfEndpoint}] : []),
    ...s3Env(opts),
    ...cacheEnv(),
  ]
  const template = {
    metadata: {labels: labelsFor(entry, 'preload')},
    spec: {
      restartPolicy: 'Never',
      serviceAccountName: objectName(entry.name),
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      securityContext: podSecurityContext(),
      containers: [
        {
          name: 'preload',
          image: entry.image,
          imagePullPolicy: 'IfNotPresent',
          command: ['python3', '-c', PRELOAD_SCRIPT],
          env,
          resources: {requests: {cpu: '1', memory: '2Gi', 'ephemeral-storage': disk}, limits: {memory: '4Gi', 'ephemeral-storage': disk}},
          securityContext: containerSecurityContext(),
          volumeMounts: [
            {name: 'scratch', mountPath: '/scratch'},
            {name: 'cache', mountPath: '/cache'},
            {name: 'tmp', mountPath: '/tmp'},
          ],
        },
      ],
      volumes: [
        {name: 'scratch', emptyDir: {sizeLimit: scratch}},
        {name: 'cache', emptyDir: {sizeLimit: '2Gi'}},
        {name: 'tmp', emptyDir: {sizeLimit: '2Gi'}},
      ],
    },
  }
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: meta(entry, opts, 'preload', preloadJobName(entry, template), {'aip.dev/hf-repo': entry.hf.repo, 'aip.dev/hf-revision': entry.hf.revision}),
    spec: {
      backoffLimit: 3,
      activeDeadlineSeconds: 3 * 3600,
      // Kept a day for `aip model status` and logs, then collected; a rerun recreates it and the
      // marker check makes it exit at once.
      ttlSecondsAfterFinished: 86400,
      template,
    },
  }
}
