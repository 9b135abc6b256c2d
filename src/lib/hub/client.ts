/**
 * The Hugging Face Hub client: model info (siblings with LFS sha256) and revision -> commit
 * resolution here; file reads in download.ts, transport (auth, retries, redirects) in transport.ts,
 * safetensors headers in safetensors.ts.
 */
import {AipError} from '../errors.js'
import {HubDownloads} from './download.js'
import {listSafetensorsTensors, readSafetensorsHeader, readSafetensorsIndex} from './safetensors.js'
import {COMMIT_SHA_RE, type HubModelInfo, type HubSibling, type SafetensorsHeader, type SafetensorsIndex, type SafetensorsListing, validateRepoId} from './types.js'

export class HubClient extends HubDownloads {
  /** GET /api/models/{repo}[/revision/{rev}]?blobs=true: id, commit sha, siblings with sizes and LFS sha256. */
  async modelInfo(repo: string, revision?: string, signal?: AbortSignal): Promise<HubModelInfo> {
    validateRepoId(repo)
    const url = `${this.endpoint}/api/models/${repo}${revision ? `/revision/${encodeURIComponent(revision)}` : ''}?blobs=true`
    const res = await this.request(url, {method: 'GET', signal}, {repo, revision})
    const raw = (await res.json()) as Record<string, unknown>
    const siblings = Array.isArray(raw.siblings) ? (raw.siblings as Array<Record<string, unknown>>) : []
    const info: HubModelInfo = {
      id: String(raw.id ?? raw.modelId ?? repo),
      sha: String(raw.sha ?? ''),
      siblings: siblings.map((s) => {
        const lfs = s.lfs as Record<string, unknown> | undefined
        const out: HubSibling = {rfilename: String(s.rfilename)}
        if (typeof s.size === 'number') out.size = s.size
        if (typeof s.blobId === 'string') out.blobId = s.blobId
        if (lfs && typeof lfs.sha256 === 'string') {
          out.lfs = {sha256: lfs.sha256, size: Number(lfs.size ?? s.size)}
          if (typeof lfs.pointerSize === 'number') out.lfs.pointerSize = lfs.pointerSize
          if (out.size === undefined) out.size = out.lfs.size
        }
        return out
      }),
    }
    if (raw.gated !== undefined) info.gated = raw.gated as HubModelInfo['gated']
    if (raw.private !== undefined) info.private = Boolean(raw.private)
    if (!COMMIT_SHA_RE.test(info.sha)) {
      throw new AipError('FAILED', `the Hub at ${this.endpoint} answered for ${repo} without a commit sha`, {fix: 'check HF_ENDPOINT points at a Hugging Face Hub'})
    }
    return info
  }

  /** A branch, tag or commit -> the 40-hex commit sha (NotFoundError naming repo and revision). */
  async resolveRevision(repo: string, revision = 'main', signal?: AbortSignal): Promise<string> {
    return (await this.modelInfo(repo, revision, signal)).sha
  }

  /** The safetensors header of one file: 8-byte little-endian length, then only the JSON header. */
  readSafetensorsHeader(repo: string, path: string, revision = 'main', signal?: AbortSignal): Promise<SafetensorsHeader> {
    return readSafetensorsHeader(this, repo, path, revision, signal)
  }

  /** model.safetensors.index.json when present, else the single model.safetensors (or the top-level *.safetensors of `siblings`). */
  readSafetensorsIndex(repo: string, revision = 'main', siblings?: HubSibling[], signal?: AbortSignal): Promise<SafetensorsIndex> {
    return readSafetensorsIndex(this, repo, revision, siblings, signal)
  }

  /** Headers of every shard (fetched in parallel, `concurrency` at a time), merged. */
  listSafetensorsTensors(repo: string, revision = 'main', opts: {concurrency?: number; siblings?: HubSibling[]; signal?: AbortSignal} = {}): Promise<SafetensorsListing> {
    return listSafetensorsTensors(this, repo, revision, opts)
  }
}
