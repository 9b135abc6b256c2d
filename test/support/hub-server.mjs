// A loopback Hugging Face Hub with the Hub's real routes, for tests and benchmarks (plain JS so
// bench/*.mjs can use it; types in hub-server.d.mts, re-exported by hub-server.ts).
//
//   GET  /api/models/{org}/{name}[/revision/{rev}]   model info: id, sha, siblings (rfilename, size,
//                                                      blobId, lfs {sha256, size, pointerSize})
//   HEAD|GET /{org}/{name}/resolve/{rev}/{path}       LFS files: 302 to a content path (like the CDN)
//                                                      with x-repo-commit, x-linked-etag, x-linked-size,
//                                                      etag; small (non-LFS) files: 200 with the bytes
//   GET  /cdn/{org}/{name}/{sha256}                   the bytes, with Range (206, Content-Range, 416), ETag
//
// Gated repos answer 401 (no or unknown token, X-Error-Code: GatedRepo) and 403 (valid token without
// access); private repos hide behind 401/404 RepoNotFound; unknown revision/file -> 404 with
// RevisionNotFound/EntryNotFound. Fault hooks: 429 with Retry-After for the next N requests, drop the
// connection after K bytes of a file, corrupt a byte of a file, throttle each connection to a fixed
// rate (like one CDN edge connection). Content responses are tracked per file: how many were being
// served at once (rangeConcurrency), to show a client reads one file over several connections.
// The content URLs `resolve` redirects to are signed like S3 presigned URLs (X-Amz-Date,
// X-Amz-Expires: cdnUrlTtlSeconds, default 3600) and refused with 403 AccessDenied once expired or
// revoked (revokeCdnUrls), as the real CDN refuses an expired signature.
import {createHash} from 'node:crypto'
import {createServer} from 'node:http'

const PERIOD = 1_048_573 // a prime: seeded content does not repeat at part boundaries
const blockCache = new Map()

/** PERIOD pseudo-random bytes for a seed, doubled so any window of <= PERIOD bytes is contiguous. */
function seededBlock(seed) {
  let b = blockCache.get(seed)
  if (b) return b
  b = Buffer.allocUnsafe(PERIOD * 2)
  let x = (seed * 2654435761) >>> 0 || 0x9e3779b9
  for (let i = 0; i < PERIOD; i += 4) {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    b.writeUInt32LE(x, i < PERIOD - 4 ? i : PERIOD - 4)
  }
  b.copy(b, PERIOD, 0, PERIOD)
  blockCache.set(seed, b)
  return b
}

/** Deterministic bytes [offset, offset+length) of the seeded content (length <= ~1 MiB: zero-copy). */
export function seededChunk(seed, offset, length) {
  const b = seededBlock(seed)
  const o = offset % PERIOD
  if (length <= PERIOD) return b.subarray(o, o + length)
  const out = Buffer.allocUnsafe(length)
  let n = 0
  while (n < length) {
    const c = seededChunk(seed, offset + n, Math.min(PERIOD, length - n))
    c.copy(out, n)
    n += c.length
  }
  return out
}

/** The whole seeded content as one Buffer (small files in tests). */
export function seededBytes(size, seed) {
  return Buffer.from(seededChunk(seed, 0, size))
}

const DTYPE_BYTES = {F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, U16: 2, U32: 4, U64: 8, BOOL: 1, F8_E4M3: 1, F8_E5M2: 1, F8_E8M0: 1, F4: 0.5, I4: 0.5, U4: 0.5}

/**
 * A real safetensors file: 8-byte little-endian header length, JSON header {name: {dtype, shape,
 * data_offsets}, __metadata__}, padded with spaces to 8 bytes, then the data (zeros, or seeded).
 */
export function makeSafetensors(tensors, opts = {}) {
  const header = {}
  let off = 0
  for (const t of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1)
    const per = DTYPE_BYTES[t.dtype]
    if (per === undefined) throw new Error(`unknown dtype ${t.dtype}`)
    const bytes = Math.ceil(n * per)
    header[t.name] = {dtype: t.dtype, shape: t.shape, data_offsets: [off, off + bytes]}
    off += bytes
  }
  if (opts.metadata) header.__metadata__ = opts.metadata
  let json = JSON.stringify(header)
  while ((8 + Buffer.byteLength(json)) % 8 !== 0) json += ' '
  const hb = Buffer.from(json)
  const out = Buffer.alloc(8 + hb.length + off)
  out.writeBigUInt64LE(BigInt(hb.length), 0)
  hb.copy(out, 8)
  if (opts.seed !== undefined) seededChunk(opts.seed, 0, off).copy(out, 8 + hb.length)
  return out
}

const LFS_DEFAULT = /\.(safetensors|bin|pt|pth|h5|msgpack|onnx|gguf|model|tiktoken)$/

function sha256Of(spec) {
  if (spec.buffer) return createHash('sha256').update(spec.buffer).digest('hex')
  const h = createHash('sha256')
  for (let o = 0; o < spec.size; o += PERIOD) h.update(seededChunk(spec.seed, o, Math.min(PERIOD, spec.size - o)))
  return h.digest('hex')
}

function gitBlobId(buf) {
  return createHash('sha1').update(`blob ${buf.length}\0`).update(buf).digest('hex')
}

/** Normalises {path: Buffer | string | {size, seed, lfs?}} into file records with sha256. */
export function buildFiles(files) {
  const out = new Map()
  for (const [path, v] of Object.entries(files)) {
    let spec
    if (Buffer.isBuffer(v) || typeof v === 'string') {
      const buffer = Buffer.isBuffer(v) ? v : Buffer.from(v)
      spec = {path, size: buffer.length, buffer, lfs: LFS_DEFAULT.test(path) || buffer.length > 10 * 1024 * 1024}
    } else {
      spec = {path, size: v.size, seed: v.seed ?? 1, lfs: v.lfs ?? (LFS_DEFAULT.test(path) || v.size > 10 * 1024 * 1024)}
      if (!spec.lfs) spec.buffer = seededBytes(v.size, spec.seed)
    }
    spec.sha256 = sha256Of(spec)
    spec.blobId = spec.lfs ? createHash('sha1').update(`${spec.path}:${spec.sha256}`).digest('hex') : gitBlobId(spec.buffer)
    out.set(path, spec)
  }
  return out
}

function commitSha(repo, files, salt) {
  const h = createHash('sha1').update(`${repo}\n${salt ?? ''}\n`)
  for (const f of [...files.values()].sort((a, b) => (a.path < b.path ? -1 : 1))) h.update(`${f.path} ${f.sha256}\n`)
  return h.digest('hex')
}

export class HubServer {
  constructor() {
    this.repos = new Map()
    this.tokens = new Set()
    this.requests = []
    this.faults = {rate429: 0, retryAfter: '0', drops: new Map(), corrupt: new Map(), bytesPerSec: 0}
    /** Lifetime of the signed content URLs, and their signing generation (revokeCdnUrls bumps it). */
    this.cdnUrlTtlSeconds = 3600
    this.cdnGeneration = 0
    /** Per file: content responses being served now, and the most at once. */
    this.serving = new Map()
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err) => {
        if (!res.headersSent) {
          res.writeHead(500, {'content-type': 'application/json'})
          res.end(JSON.stringify({error: String(err?.message ?? err)}))
        } else res.destroy()
      })
    })
    this.server.keepAliveTimeout = 5000
    this.sockets = new Set()
    /** TCP connections accepted so far (a client that keeps its connections alive opens few). */
    this.connectionsOpened = 0
    this.server.on('connection', (s) => {
      this.connectionsOpened++
      this.sockets.add(s)
      s.on('close', () => this.sockets.delete(s))
    })
  }

  /** opts.bytesPerSecondPerConnection: serve every content response (one per connection at a time) at this rate. */
  static async start(opts = {}) {
    const s = new HubServer()
    for (const t of opts.tokens ?? []) s.tokens.add(t)
    if (opts.bytesPerSecondPerConnection) s.throttle(opts.bytesPerSecondPerConnection)
    await new Promise((resolve) => s.server.listen(0, '127.0.0.1', resolve))
    s.url = `http://127.0.0.1:${s.server.address().port}`
    return s
  }

  async stop() {
    for (const s of this.sockets) s.destroy()
    await new Promise((resolve) => this.server.close(() => resolve()))
  }

  /**
   * Adds a repo (or a new commit of it). Returns {id, commit, files}. `revision` names the branch or
   * tag that points at the new commit (default main); `gated`/`private` with `allow` (tokens with access).
   */
  addRepo(id, opts) {
    const files = buildFiles(opts.files)
    const commit = opts.commit ?? commitSha(id, files, opts.salt)
    let repo = this.repos.get(id)
    if (!repo) {
      repo = {id, commits: new Map(), refs: new Map(), gated: false, private: false, allow: new Set()}
      this.repos.set(id, repo)
    }
    repo.commits.set(commit, files)
    repo.refs.set(opts.revision ?? 'main', commit)
    if (opts.gated !== undefined) repo.gated = opts.gated
    if (opts.private !== undefined) repo.private = opts.private
    for (const t of opts.allow ?? []) {
      repo.allow.add(t)
      this.tokens.add(t)
    }
    return {id, commit, files}
  }

  /** The next `n` requests (any route) answer 429 with Retry-After: `retryAfter` seconds. */
  rateLimitNext(n, retryAfter = 0) {
    this.faults.rate429 = n
    this.faults.retryAfter = String(retryAfter)
  }

  /** Content responses for `path` longer than `afterBytes` are cut after `afterBytes` bytes of the response, `times` times. */
  dropConnection(path, afterBytes, times = 1) {
    this.faults.drops.set(path, {afterBytes, times})
  }

  /** Serve `path` with the byte at `offset` flipped (the advertised sha256 stays the original). */
  corruptFile(path, offset = 0) {
    this.faults.corrupt.set(path, offset)
  }

  /**
   * Throttle every content response to `bytesPerSec` (0: off). An HTTP/1.1 connection carries one
   * response at a time, so this is a per-connection rate: a client gets more by opening more.
   */
  throttle(bytesPerSec) {
    this.faults.bytesPerSec = bytesPerSec
  }

  /** Every content URL handed out so far is refused from now on (403), as after a key rotation or expiry. */
  revokeCdnUrls() {
    this.cdnGeneration++
  }

  /** `resolve` requests for `path` (each one a round trip to the Hub before the CDN). */
  resolveRequests(path) {
    return this.requests.filter((r) => r.file === path && !r.content && r.url.includes('/resolve/'))
  }

  /** Forget every fault (429s, drops, corruption, throttle). */
  clearFaults() {
    this.faults = {rate429: 0, retryAfter: '0', drops: new Map(), corrupt: new Map(), bytesPerSec: 0}
  }

  /** The most content responses of `path` (all files without one) served at the same time (since the last reset). */
  rangeConcurrency(path) {
    return this.serving.get(path ?? '*')?.max ?? 0
  }

  resetConcurrency() {
    this.serving.clear()
  }

  contentRequests(path) {
    return this.requests.filter((r) => r.file === path && r.content)
  }

  json(res, status, body, headers = {}) {
    const text = JSON.stringify(body)
    res.writeHead(status, {'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers})
    res.end(text)
  }

  hubError(res, status, code, message) {
    this.json(res, status, {error: message}, code ? {'x-error-code': code, 'x-error-message': message} : {})
  }

  /** Auth check for a repo: returns true when the response was sent (denied). */
  denied(req, res, repo) {
    const auth = req.headers.authorization ?? ''
    const token = auth.startsWith('Bearer ') ? auth.slice(7) : undefined
    if (!repo.gated && !repo.private) return false
    const known = token !== undefined && this.tokens.has(token)
    const allowed = known && (repo.allow.size === 0 || repo.allow.has(token))
    if (allowed) return false
    if (repo.private) {
      this.hubError(res, known ? 404 : 401, 'RepoNotFound', 'Repository Not Found for url: ' + req.url + '. Please make sure you specified the correct `repo_id` and `repo_type`. If you are trying to access a private or gated repo, make sure you are authenticated.')
      return true
    }
    if (!known) {
      this.hubError(res, 401, 'GatedRepo', `Access to model ${repo.id} is restricted. You must have access to it and be authenticated to access it. Please log in.`)
      return true
    }
    this.hubError(res, 403, 'GatedRepo', `Access to model ${repo.id} is restricted and you are not in the authorized list. Visit https://huggingface.co/${repo.id} to ask for access.`)
    return true
  }

  commitOf(repo, rev) {
    if (repo.commits.has(rev)) return rev
    return repo.refs.get(rev)
  }

  async handle(req, res) {
    const url = new URL(req.url, 'http://x')
    const path = decodeURIComponent(url.pathname)
    const rec = {method: req.method, url: req.url, range: req.headers.range, auth: Boolean(req.headers.authorization)}
    this.requests.push(rec)
    if (this.faults.rate429 > 0) {
      this.faults.rate429--
      res.writeHead(429, {'retry-after': this.faults.retryAfter, 'content-type': 'application/json', 'x-error-code': 'RateLimited'})
      res.end(JSON.stringify({error: 'You have exceeded our hourly quotas for action: resolve.'}))
      return
    }
    let m = /^\/api\/models\/([^/]+\/[^/]+?)(?:\/revision\/(.+))?$/.exec(path)
    if (m && (req.method === 'GET' || req.method === 'HEAD')) return this.modelInfo(req, res, m[1], m[2] ?? 'main')
    m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(path)
    if (m && (req.method === 'GET' || req.method === 'HEAD')) {
      rec.file = m[3]
      return this.resolve(req, res, m[1], m[2], m[3])
    }
    m = /^\/cdn\/([^/]+\/[^/]+)\/([0-9a-f]{40})\/(.+)$/.exec(path)
    if (m && (req.method === 'GET' || req.method === 'HEAD')) {
      rec.file = m[3]
      rec.content = true
      const expired = this.signatureProblem(url.searchParams)
      if (expired) {
        rec.refused = true
        res.writeHead(403, {'content-type': 'application/xml'})
        res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>${expired}</Message></Error>`)
        return
      }
      const repo = this.repos.get(m[1])
      const f = repo?.commits.get(m[2])?.get(m[3])
      if (!f) return this.hubError(res, 404, 'EntryNotFound', 'Entry not found')
      return this.serveContent(req, res, f, m[2])
    }
    this.hubError(res, 404, undefined, 'Not Found')
  }

  modelInfo(req, res, id, rev) {
    const repo = this.repos.get(id)
    if (!repo) return this.hubError(res, 401, 'RepoNotFound', `Repository Not Found for url: ${req.url}.`)
    if (this.denied(req, res, repo)) return
    const commit = this.commitOf(repo, rev)
    if (!commit) return this.hubError(res, 404, 'RevisionNotFound', `Invalid rev id: ${rev}`)
    const files = repo.commits.get(commit)
    const siblings = [...files.values()].map((f) => ({
      rfilename: f.path,
      size: f.size,
      blobId: f.blobId,
      ...(f.lfs ? {lfs: {sha256: f.sha256, size: f.size, pointerSize: 134}} : {}),
    }))
    this.json(res, 200, {_id: id, id, modelId: id, sha: commit, private: repo.private, gated: repo.gated ? 'manual' : false, disabled: false, lastModified: new Date(0).toISOString(), siblings})
  }

  resolve(req, res, id, rev, file) {
    const repo = this.repos.get(id)
    if (!repo) return this.hubError(res, 401, 'RepoNotFound', `Repository Not Found for url: ${req.url}.`)
    if (this.denied(req, res, repo)) return
    const commit = this.commitOf(repo, rev)
    if (!commit) return this.hubError(res, 404, 'RevisionNotFound', `Invalid rev id: ${rev}`)
    const f = repo.commits.get(commit).get(file)
    if (!f) return this.hubError(res, 404, 'EntryNotFound', `${file} does not exist at revision ${rev}`)
    if (f.lfs) {
      const amzDate = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+/, '')
      const location = `${this.url}/cdn/${id}/${commit}/${file.split('/').map(encodeURIComponent).join('/')}?X-Amz-Date=${amzDate}&X-Amz-Expires=${this.cdnUrlTtlSeconds}&X-Amz-Signature=loopback${this.cdnGeneration}`
      res.writeHead(302, {
        location,
        'x-repo-commit': commit,
        'x-linked-etag': `"${f.sha256}"`,
        'x-linked-size': String(f.size),
        etag: `"${f.sha256}"`,
        'content-length': 0,
      })
      res.end()
      return
    }
    return this.serveContent(req, res, f, commit, true)
  }

  async serveContent(req, res, f, commit, direct = false) {
    if (direct) {
      const rec = this.requests[this.requests.length - 1]
      if (rec) rec.content = true
    }
    const etag = f.lfs ? `"${f.sha256}"` : `"${f.blobId}"`
    let start = 0
    let end = f.size - 1
    let status = 200
    const range = req.headers.range
    if (range) {
      const m = /^bytes=(\d*)-(\d*)$/.exec(range)
      if (!m || (m[1] === '' && m[2] === '')) return this.rangeNotSatisfiable(res, f)
      if (m[1] === '') {
        start = Math.max(0, f.size - Number(m[2]))
      } else {
        start = Number(m[1])
        if (m[2] !== '') end = Math.min(end, Number(m[2]))
      }
      if (start >= f.size || start > end) return this.rangeNotSatisfiable(res, f)
      status = 206
    }
    const length = end - start + 1
    const headers = {
      'content-type': 'application/octet-stream',
      'content-length': String(length),
      'accept-ranges': 'bytes',
      etag,
      'x-repo-commit': commit,
      ...(status === 206 ? {'content-range': `bytes ${start}-${end}/${f.size}`} : {}),
    }
    res.writeHead(status, headers)
    if (req.method === 'HEAD') return res.end()
    const drop = this.faults.drops.get(f.path)
    let dropAt = Infinity
    // only a response that reaches the byte is cut there (and uses up one drop): with ranged reads
    // a short range (a file's last bytes) can arrive first and must not swallow the fault
    if (drop && drop.times > 0 && end - start + 1 > drop.afterBytes) {
      drop.times--
      dropAt = drop.afterBytes
    }
    const corruptAt = this.faults.corrupt.get(f.path)
    let sent = 0
    let pos = start
    const rate = this.faults.bytesPerSec
    const chunkSize = rate > 0 ? 64 * 1024 : 256 * 1024
    const t0 = performance.now()
    const counters = [f.path, '*'].map((k) => {
      let c = this.serving.get(k)
      if (!c) this.serving.set(k, (c = {current: 0, max: 0}))
      c.current++
      c.max = Math.max(c.max, c.current)
      return c
    })
    // served once the last byte is handed to the socket ('finish'), or the response is cut ('close'):
    // a client that has read every byte may already be opening its next request
    let counted = true
    const done = () => {
      if (!counted) return
      counted = false
      for (const c of counters) c.current--
    }
    res.once('finish', done)
    res.once('close', done)
    while (pos <= end) {
      if (res.destroyed) return
      let n = Math.min(chunkSize, end - pos + 1)
      if (sent + n > dropAt) n = dropAt - sent
      if (n <= 0) {
        res.socket?.destroy()
        return
      }
      // Paced by the clock from the response's start, so time spent writing counts against the
      // rate; a chunk goes out when the rate allows its last byte, so the final one is followed by
      // the end of the response at once (a client that has every byte may open its next request).
      if (rate > 0) {
        const wait = t0 + ((sent + n) / rate) * 1000 - performance.now()
        if (wait > 0) await new Promise((r) => setTimeout(r, wait))
        if (res.destroyed) return
      }
      let chunk = f.buffer ? f.buffer.subarray(pos, pos + n) : seededChunk(f.seed, pos, n)
      if (corruptAt !== undefined && corruptAt >= pos && corruptAt < pos + n) {
        chunk = Buffer.from(chunk)
        chunk[corruptAt - pos] ^= 0xff
      }
      const ok = res.write(chunk)
      sent += n
      pos += n
      if (sent >= dropAt) {
        await new Promise((r) => setTimeout(r, 20))
        res.socket?.destroy()
        return
      }
      if (!ok && res.writableNeedDrain) {
        await new Promise((r) => {
          if (res.destroyed || !res.writableNeedDrain) return r()
          const done = () => {
            res.off('drain', done)
            res.off('close', done)
            r()
          }
          res.on('drain', done)
          res.on('close', done)
        })
      }
    }
    res.end()
  }

  /** Why a content URL's signature is refused (expired, revoked), or undefined when it is good. */
  signatureProblem(q) {
    const sig = q.get('X-Amz-Signature')
    if (sig !== `loopback${this.cdnGeneration}`) return 'The request signature we calculated does not match the signature you provided.'
    const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(q.get('X-Amz-Date') ?? '')
    const exp = Number(q.get('X-Amz-Expires'))
    if (!m || !Number.isFinite(exp)) return 'Query-string authentication requires the X-Amz-Date and X-Amz-Expires parameters'
    if (Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]) + exp * 1000 < Date.now()) return 'Request has expired'
    return undefined
  }

  rangeNotSatisfiable(res, f) {
    res.writeHead(416, {'content-range': `bytes */${f.size}`, 'content-type': 'application/json'})
    res.end(JSON.stringify({error: 'Requested Range Not Satisfiable'}))
  }
}
