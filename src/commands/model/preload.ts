import * as Args from '@oclif/core/args'
import * as Flags from '@oclif/core/flags'

import {AipCommand} from '../../base-command.js'
import {awsFlags} from '../../flags.js'
import {parseBytes} from '../../lib/config/index.js'
import {UsageError} from '../../lib/errors.js'
import {HubClient, hubConfigFromEnv, validateRepoId} from '../../lib/hub/index.js'
import {formatBytes, formatDuration, isInteractive, ndjsonLine} from '../../lib/output/index.js'
import type {PreloadResult} from '../../lib/preload/pipeline.js'

export default class ModelPreload extends AipCommand {
  static override summary = 'Copy a model\'s weights from the Hugging Face Hub into S3 (streamed, verified, resumable)'
  static override description = [
    'Resolves the revision to a commit sha and streams each file from the Hub straight into S3 multipart uploads',
    '(no temporary files, bounded memory), verifying sha256 against the Hub\'s LFS oid before completing each object.',
    'Large files are read as many byte ranges at once (up to --connections Hub connections in all, 32 by default),',
    'memory capped at --concurrency x --part-size (64 MiB by default) whatever the model size.',
    'The weights land in s3://BUCKET/PREFIX/ORG--NAME/COMMIT/ and a marker .aip-preload.json is written there last.',
    'A rerun skips complete files and resumes unfinished uploads; --force uploads everything again.',
    'Set HF_TOKEN for gated or private repos, HF_ENDPOINT for a mirror.',
  ].join('\n')
  static override examples = [
    '<%= config.bin %> model preload hf:Qwen/Qwen2.5-0.5B-Instruct --bucket my-models',
    '<%= config.bin %> model preload qwen2.5-coder-7b-instruct --revision main --include "*.safetensors" --include "*.json"',
    'HF_TOKEN=hf_... <%= config.bin %> model preload hf:meta-llama/Llama-3.1-8B-Instruct --sse aws:kms --sse-kms-key-id alias/models',
    '<%= config.bin %> model preload hf:org/name --s3-endpoint http://127.0.0.1:9000 --json | jq -c \'select(.event=="progress")\'',
  ]
  static override enableJsonFlag = true
  static override handlesInterrupt = true
  static override args = {
    model: Args.string({description: 'catalog model NAME, or hf:ORG/REPO (ORG/REPO also accepted)', required: true}),
  }
  static override flags = {
    revision: Flags.string({description: 'branch, tag or commit sha (default: the catalog entry\'s revision, else main)'}),
    bucket: Flags.string({description: 'S3 bucket (default: config `bucket`)', helpGroup: 'S3'}),
    prefix: Flags.string({description: 'key prefix (default: config `prefix`, "models")', helpGroup: 'S3'}),
    include: Flags.string({description: 'glob of files to copy (repeatable; replaces the default set)', multiple: true}),
    exclude: Flags.string({description: 'glob of files to skip (repeatable)', multiple: true}),
    force: Flags.boolean({description: 'upload everything again, ignoring complete objects and unfinished uploads', default: false}),
    ...awsFlags,
    's3-endpoint': Flags.string({description: 'S3-compatible endpoint URL (MinIO, ...); path-style addressing', helpGroup: 'S3'}),
    sse: Flags.string({description: 'server-side encryption', options: ['AES256', 'aws:kms'], helpGroup: 'S3'}),
    'sse-kms-key-id': Flags.string({description: 'KMS key id/ARN/alias for --sse aws:kms (implies it)', helpGroup: 'S3'}),
    // S3's storage classes (PutObject x-amz-storage-class) whose objects read at once: GLACIER and
    // DEEP_ARCHIVE objects need a restore before every read, so a model there could never load
    'storage-class': Flags.string({description: 'S3 storage class (objects that read at once)', options: ['STANDARD', 'INTELLIGENT_TIERING', 'STANDARD_IA', 'ONEZONE_IA', 'GLACIER_IR', 'REDUCED_REDUNDANCY', 'EXPRESS_ONEZONE'], helpGroup: 'S3'}),
    'part-size': Flags.string({description: 'multipart part size (5MiB..5GiB)', default: '8MiB', helpGroup: 'TUNING'}),
    concurrency: Flags.integer({description: 'memory budget in parts: bytes held across all files are at most concurrency x part size (default 8)', min: 1, max: 128, helpGroup: 'TUNING'}),
    connections: Flags.integer({description: 'Hub connections at once across all files; a large file is read as many ranges at once', default: 32, min: 1, max: 128, helpGroup: 'TUNING'}),
    'range-size': Flags.string({description: 'bytes per Hub range request (at most the part size)', default: '2MiB', helpGroup: 'TUNING'}),
    'file-concurrency': Flags.integer({description: 'files transferred at once', default: 4, min: 1, max: 32, helpGroup: 'TUNING'}),
  }

  /** NDJSON: the final envelope is one line too, so `--json` output is line-delimited throughout. */
  override logJson(json: unknown): void {
    process.stdout.write(ndjsonLine(json))
  }

  async run(): Promise<PreloadResult> {
    const {args, flags} = await this.parse(ModelPreload)
    const cfg = this.config_({bucket: flags.bucket, prefix: flags.prefix, region: flags.region, profile: flags.profile, 's3-endpoint': flags['s3-endpoint']})
    const {repo, revision} = await resolveModelArg(args.model, flags.revision)
    const bucket = cfg.string('bucket')
    if (!bucket) throw new UsageError('no S3 bucket configured', {fix: 'pass --bucket NAME, or run `aip config set bucket NAME`'})
    const partSize = parseBytes(flags['part-size'], '--part-size')
    if (partSize < 5 * 1024 * 1024 || partSize > 5 * 1024 ** 3) throw new UsageError(`--part-size ${flags['part-size']} is outside 5MiB..5GiB`, {fix: 'S3 parts must be 5 MiB to 5 GiB, e.g. --part-size 8MiB'})
    const rangeSize = parseBytes(flags['range-size'], '--range-size')
    if (rangeSize < 64 * 1024) throw new UsageError(`--range-size ${flags['range-size']} is under 64KiB`, {fix: 'use a range size of 64KiB or more, e.g. --range-size 2MiB'})
    if (flags['sse-kms-key-id'] && flags.sse === 'AES256') throw new UsageError('--sse-kms-key-id needs --sse aws:kms', {fix: 'drop --sse AES256 or --sse-kms-key-id'})

    const [{runPreload, PreloadProgress}, {createS3Client}] = await Promise.all([import('../../lib/preload/index.js'), import('../../lib/aws/s3.js')])
    const endpoint = cfg.string('s3-endpoint')
    const s3 = await createS3Client({region: cfg.string('region'), profile: cfg.string('profile'), endpoint})
    const mode = this.jsonEnabled() ? 'ndjson' : isInteractive(process.stderr) ? 'tty' : 'plain'
    const progress = new PreloadProgress(mode, {write: (t) => (mode === 'ndjson' ? process.stdout.write(t) : process.stderr.write(t))}, {columns: process.stderr.columns})
    const hub = new HubClient({
      ...hubConfigFromEnv(process.env, cfg.string('hf-endpoint')),
      userAgent: `aip/${this.config.version}`,
      onRetry: (r) => progress.handle({event: 'retry', what: 'hub-request', attempt: r.attempt, reason: r.reason}),
    })
    const result = await runPreload(
      {
        repo,
        revision,
        bucket,
        prefix: cfg.string('prefix'),
        include: flags.include,
        exclude: flags.exclude,
        force: flags.force,
        partSize,
        ...(flags.concurrency ? {concurrency: flags.concurrency} : {}),
        connections: flags.connections,
        rangeSize,
        fileConcurrency: flags['file-concurrency'],
        ...(flags.sse || flags['sse-kms-key-id'] ? {sse: (flags.sse ?? 'aws:kms') as 'AES256' | 'aws:kms'} : {}),
        ...(flags['sse-kms-key-id'] ? {sseKmsKeyId: flags['sse-kms-key-id']} : {}),
        ...(flags['storage-class'] ? {storageClass: flags['storage-class']} : {}),
        signal: this.signal,
        onEvent: (e) => progress.handle(e),
        aipVersion: this.config.version,
        ...(endpoint ? {s3Endpoint: endpoint} : {}),
      },
      {hub, s3},
    )
    for (const n of result.notes) this.warn(n)
    const skipped = result.files.filter((f) => f.status === 'skipped').length
    progress.finish(
      `preloaded ${result.repo}@${result.commit.slice(0, 12)}: ${result.files.length} files, ${formatBytes(result.totalBytes)} ` +
        `(${formatBytes(result.uploadedBytes)} uploaded${skipped ? `, ${skipped} already complete` : ''}${result.resumedBytes ? `, ${formatBytes(result.resumedBytes)} resumed` : ''}) ` +
        `in ${formatDuration(result.durationMs)}${result.uploadedBytes ? `, ${formatBytes(result.bytesPerSecond)}/s` : ''}`,
    )
    this.print(result.uri)
    return result
  }
}

/** NAME (catalog) | hf:ORG/REPO | ORG/REPO -> repo + revision. */
async function resolveModelArg(arg: string, revisionFlag?: string): Promise<{repo: string; revision: string}> {
  if (arg.startsWith('hf:') || arg.includes('/')) {
    const repo = arg.replace(/^hf:/, '')
    validateRepoId(repo)
    return {repo, revision: revisionFlag ?? 'main'}
  }
  const {getCatalogEntry} = await import('../../lib/catalog/index.js')
  const entry = getCatalogEntry(arg, 'pass hf:ORG/REPO')
  return {repo: entry.hf.repo, revision: revisionFlag ?? entry.hf.revision}
}
