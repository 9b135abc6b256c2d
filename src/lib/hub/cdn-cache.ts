/**
 * The content URLs that `resolve` redirects to (a signed CDN URL: CloudFront's `Expires=` on
 * cdn-lfs.hf.co, SigV4's `X-Amz-Date` + `X-Amz-Expires` on the Xet bridge), kept per file until
 * shortly before they expire, so that the many ranged reads of one file go straight to the CDN
 * instead of paying the Hub's redirect (one more request and round trip) for every range. The
 * Hub's own clients do the same: huggingface_hub resolves a file once (HEAD, `metadata.location`)
 * and hands that URL to hf_transfer for all of its range requests; the Xet client fetches its
 * reconstruction (signed URLs) once and refreshes only when they expire.
 */
const MARGIN_MS = 60_000
/** A URL without a recognisable expiry is kept this long (a 403 from it still refreshes it sooner). */
const DEFAULT_TTL_MS = 10 * 60_000

/** When a signed URL stops working (ms since the epoch), from its query; undefined when it does not say. */
export function signedUrlExpiry(url: string): number | undefined {
  let q: URLSearchParams
  try {
    q = new URL(url).searchParams
  } catch {
    return undefined
  }
  // CloudFront signed URL (canned policy): Expires=<epoch seconds>
  const cf = q.get('Expires')
  if (cf && /^\d+$/.test(cf)) return Number(cf) * 1000
  // SigV4 query signing (S3 presigned): X-Amz-Date=YYYYMMDD'T'HHMMSS'Z' + X-Amz-Expires=<seconds>
  const date = q.get('X-Amz-Date') ?? q.get('x-amz-date')
  const expires = q.get('X-Amz-Expires') ?? q.get('x-amz-expires')
  const m = date ? /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(date) : null
  if (m && expires && /^\d+$/.test(expires)) return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!) + Number(expires) * 1000
  return undefined
}

export class CdnUrlCache {
  private readonly urls = new Map<string, {url: string; until: number}>()
  constructor(private readonly now: () => number = Date.now) {}

  static key(repo: string, revision: string, path: string): string {
    return `${repo}\0${revision}\0${path}`
  }

  /** The cached URL while it has more than a minute left. */
  get(key: string): string | undefined {
    const e = this.urls.get(key)
    if (!e) return undefined
    if (this.now() >= e.until) {
      this.urls.delete(key)
      return undefined
    }
    return e.url
  }

  /** Keeps `url` (where `resolve` redirected to) until a minute before it expires. */
  set(key: string, url: string): void {
    const expiry = signedUrlExpiry(url)
    const until = expiry === undefined ? this.now() + DEFAULT_TTL_MS : expiry - MARGIN_MS
    if (until > this.now()) this.urls.set(key, {url, until})
    else this.urls.delete(key)
  }

  /** Forgets the URL of `key` (only `url`, when given: another may have replaced it meanwhile). */
  delete(key: string, url?: string): void {
    if (url === undefined || this.urls.get(key)?.url === url) this.urls.delete(key)
  }
}
