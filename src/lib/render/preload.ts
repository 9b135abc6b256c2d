import {readFileSync} from 'node:fs'
import {join} from 'node:path'

import type {CatalogEntry} from '../catalog/schema.js'
import type {KubeObject} from '../kube/types.js'
import {templatesPath} from '../paths.js'
import {DEFAULT_EXCLUDE, DEFAULT_INCLUDE} from '../preload/select.js'
import {DEFAULT_CONNECTIONS, DEFAULT_RANGE_SIZE} from '../preload/types.js'
import {containerSecurityContext, DEFAULT_HF_TOKEN_SECRET, labelsFor, meta, objectName, podSecurityContext, PRELOAD_SERVICE_ACCOUNT, type RenderOptions, s3Env, shortHash} from './common.js'
import {weightsLocation} from './weights.js'

/**
 * A small python3 image for the preload Job: the script needs only the standard library, and the
 * vLLM image (~10 GB unpacked per layer set) would not even fit the 20 GiB root disk of a default
 * EKS system node. Pinned; from ECR Public (no Docker Hub pull limits on EKS). `preload-image`
 * config overrides it.
 */
export const DEFAULT_PRELOAD_IMAGE = 'public.ecr.aws/docker/library/python:3.12.8-slim-bookworm'

let script: string | undefined
/** templates/jobs/preload.py: Hub -> S3 streaming, stdlib only (tested for real in test/lib/render/preload-script.test.ts). */
export function preloadScript(): string {
  return (script ??= readFileSync(join(templatesPath('jobs'), 'preload.py'), 'utf8'))
}

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

/**
 * The preload Job streams every file from the Hub into S3 (multipart; each file read as
 * AIP_RANGE_BYTES ranges over up to AIP_CONNECTIONS connections at once, as `aip model preload`
 * does; at most AIP_BUFFER_BYTES of parts in memory, plus one copy per part being uploaded:
 * ~256 MiB), so it needs no scratch disk: it
 * requests 1 GiB of ephemeral storage (logs, /tmp) and fits a default system node (m6i.large, 20 GiB
 * root disk). It runs under its own ServiceAccount (aip-preload: S3 read-write through its Pod
 * Identity association), never the server's (read only).
 */
export function renderPreloadJob(entry: CatalogEntry, opts: RenderOptions): KubeObject {
  const secret = opts.hfTokenSecret ?? DEFAULT_HF_TOKEN_SECRET
  const env: Array<Record<string, unknown>> = [
    {name: 'AIP_BUCKET', value: opts.bucket},
    {name: 'AIP_PRELOAD_ITEMS', value: JSON.stringify(preloadItems(entry, opts))},
    // the file selection of `aip model preload` (src/lib/preload/select.ts owns it)
    {name: 'AIP_INCLUDE', value: JSON.stringify(DEFAULT_INCLUDE)},
    {name: 'AIP_EXCLUDE', value: JSON.stringify(DEFAULT_EXCLUDE)},
    {name: 'AIP_PART_BYTES', value: String(32 * 2 ** 20)},
    {name: 'AIP_UPLOAD_PARALLEL', value: '4'},
    // the CLI's defaults (src/lib/preload/types.ts): 32 connections of 2 MiB ranges, 128 MiB of parts
    {name: 'AIP_CONNECTIONS', value: String(DEFAULT_CONNECTIONS)},
    {name: 'AIP_RANGE_BYTES', value: String(DEFAULT_RANGE_SIZE)},
    {name: 'AIP_BUFFER_BYTES', value: String(128 * 2 ** 20)},
    // The token is referenced from a Secret, never written into the manifest. Optional for public
    // repos, so a missing Secret does not block them; `model deploy` checks it exists for gated ones.
    {name: 'HF_TOKEN', valueFrom: {secretKeyRef: {name: secret.name, key: secret.key, optional: !entry.hf.gated}}},
    ...(opts.hfEndpoint && opts.hfEndpoint !== 'https://huggingface.co' ? [{name: 'HF_ENDPOINT', value: opts.hfEndpoint}] : []),
    ...s3Env(opts),
    {name: 'HOME', value: '/tmp'},
    {name: 'TMPDIR', value: '/tmp'},
    {name: 'PYTHONDONTWRITEBYTECODE', value: '1'},
    {name: 'PYTHONUNBUFFERED', value: '1'},
  ]
  const template = {
    metadata: {labels: labelsFor(entry, 'preload')},
    spec: {
      restartPolicy: 'Never',
      serviceAccountName: PRELOAD_SERVICE_ACCOUNT,
      // Pod Identity and IRSA inject their own projected token volume; the API token is not needed
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      securityContext: podSecurityContext(),
      containers: [
        {
          name: 'preload',
          image: opts.preloadImage ?? DEFAULT_PRELOAD_IMAGE,
          imagePullPolicy: 'IfNotPresent',
          command: ['python3', '-c', preloadScript()],
          env,
          resources: {requests: {cpu: '500m', memory: '512Mi', 'ephemeral-storage': '1Gi'}, limits: {memory: '1Gi', 'ephemeral-storage': '2Gi'}},
          securityContext: containerSecurityContext(),
          volumeMounts: [{name: 'tmp', mountPath: '/tmp'}],
        },
      ],
      volumes: [{name: 'tmp', emptyDir: {sizeLimit: '512Mi'}}],
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
