// s3rver (a real S3-protocol server, npm `s3rver`) on 127.0.0.1, port 0, with a temp directory, for
// tests and benchmarks (plain JS so bench/*.mjs can use it; types in s3rver.d.mts).
//
// s3rver 3.7 lacks three multipart calls that real S3 has and that resumable uploads need:
// ListMultipartUploads (GET /bucket?uploads), ListParts (GET /bucket/key?uploadId=) and
// AbortMultipartUpload (DELETE /bucket/key?uploadId=). This wrapper answers them with S3's XML from
// s3rver's own upload directory (the parts it stored, with their MD5 ETags), and passes every other
// request to s3rver untouched. `deny` simulates a bucket policy that denies access (403 AccessDenied).
import {mkdtempSync} from 'node:fs'
import {readdir, readFile, rm, stat} from 'node:fs/promises'
import {createServer} from 'node:http'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {createRequire} from 'node:module'

const require = createRequire(import.meta.url)

export const S3RVER_CREDENTIALS = {accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER'}

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

function xml(res, status, body) {
  const text = `<?xml version="1.0" encoding="UTF-8"?>\n${body}`
  res.writeHead(status, {'content-type': 'application/xml', 'content-length': Buffer.byteLength(text)})
  res.end(text)
}
function s3error(res, status, code, message, resource = '') {
  xml(res, status, `<Error><Code>${code}</Code><Message>${esc(message)}</Message><Resource>${esc(resource)}</Resource><RequestId>0</RequestId></Error>`)
}

export class S3rverHandle {
  static async start(opts = {}) {
    const S3rver = require('s3rver')
    const h = new S3rverHandle()
    h.directory = opts.directory ?? mkdtempSync(join(tmpdir(), 'aip-s3rver-'))
    h.deny = new Set(opts.deny ?? [])
    h.app = new S3rver({directory: h.directory, silent: true, resetOnClose: false})
    for (const b of opts.buckets ?? []) await h.app.store.putBucket(b)
    const koa = h.app.callback()
    h.failures = []
    h.server = createServer((req, res) => {
      if (h.injectFailure(req, res)) return
      h.loseAnswer(req, res)
      h.extended(req, res).then((handled) => {
        if (!handled) koa(req, res)
      }, (err) => s3error(res, 500, 'InternalError', String(err?.message ?? err)))
    })
    h.sockets = new Set()
    h.server.on('connection', (s) => {
      h.sockets.add(s)
      s.on('close', () => h.sockets.delete(s))
    })
    await new Promise((resolve) => h.server.listen(0, '127.0.0.1', resolve))
    h.endpoint = `http://127.0.0.1:${h.server.address().port}`
    return h
  }

  async stop() {
    for (const s of this.sockets) s.destroy()
    await new Promise((resolve) => this.server.close(() => resolve()))
    this.app.logger?.close?.()
    if (!this.keep) await rm(this.directory, {recursive: true, force: true})
  }

  /**
   * The next `n` requests matching `match` ({method, part: true for UploadPart / false for a plain
   * PutObject, key: substring of the key}) answer 500 InternalError after reading the whole body,
   * as a busy S3 does; the SDK retries them. `seen` counts matching requests (failed or not).
   */
  failNext(n, match = {}) {
    const f = {n, match, seen: 0, failed: 0}
    this.failures.push(f)
    return f
  }

  /**
   * The next `n` requests matching `match` (as failNext) are carried out, but their answers are
   * lost: the connection is cut instead (as when a client gives up on a slow CompleteMultipartUpload
   * that then succeeds). The SDK retries them.
   */
  loseNextAnswer(n, match = {}) {
    const f = {n, match, seen: 0, lost: 0}
    ;(this.losses ??= []).push(f)
    return f
  }

  loseAnswer(req, res) {
    const url = new URL(req.url, 'http://x')
    for (const f of this.losses ?? []) {
      const m = f.match
      if (m.method && m.method !== req.method) continue
      if (m.query && !url.searchParams.has(m.query)) continue
      if (m.key && !decodeURIComponent(url.pathname).includes(m.key)) continue
      f.seen++
      if (f.lost >= f.n) continue
      f.lost++
      res.writeHead = () => res
      res.write = () => true
      res.end = () => {
        req.socket.destroy()
        return res
      }
      return
    }
  }

  injectFailure(req, res) {
    const url = new URL(req.url, 'http://x')
    for (const f of this.failures) {
      const m = f.match
      if (m.method && m.method !== req.method) continue
      if (m.part !== undefined && m.part !== url.searchParams.has('partNumber')) continue
      if (m.key && !decodeURIComponent(url.pathname).includes(m.key)) continue
      if (req.method === 'PUT' && req.headers['x-amz-copy-source']) continue
      f.seen++
      if (f.failed >= f.n) continue
      f.failed++
      let bytes = 0
      req.on('data', (c) => (bytes += c.length))
      req.on('end', () => {
        f.lastBodyBytes = bytes
        s3error(res, 500, 'InternalError', 'We encountered an internal error. Please try again.')
      })
      return true
    }
    return false
  }

  uploadsDir(bucket) {
    return join(this.directory, bucket, '._S3rver_uploads')
  }

  /** Uploads that were started and neither completed nor aborted: [{key, uploadId, parts}] */
  async pendingUploads(bucket) {
    const dir = this.uploadsDir(bucket)
    const ids = await readdir(dir).catch(() => [])
    const out = []
    for (const id of ids) {
      const key = await readFile(join(dir, id, 'key'), 'utf8').catch(() => undefined)
      if (key === undefined) continue
      const files = await readdir(join(dir, id))
      out.push({key, uploadId: id, parts: files.filter((f) => /^\d+$/.test(f)).length})
    }
    return out
  }

  async extended(req, res) {
    const url = new URL(req.url, 'http://x')
    const segs = url.pathname.split('/').filter(Boolean)
    const bucket = segs[0] ? decodeURIComponent(segs[0]) : undefined
    if (bucket && this.deny.has(bucket)) {
      s3error(res, 403, 'AccessDenied', 'Access Denied', url.pathname)
      return true
    }
    const auth = String(req.headers.authorization ?? '')
    const keyId = /Credential=([^/]+)\//.exec(auth)?.[1]
    const q = url.searchParams
    const key = segs.slice(1).map(decodeURIComponent).join('/')
    const isList = req.method === 'GET' && bucket && !key && q.has('uploads')
    const isParts = req.method === 'GET' && key && q.has('uploadId')
    const isAbort = req.method === 'DELETE' && key && q.has('uploadId')
    if (!isList && !isParts && !isAbort) return false
    if (keyId !== S3RVER_CREDENTIALS.accessKeyId) {
      s3error(res, 403, 'InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.')
      return true
    }
    if (!(await stat(join(this.directory, bucket)).catch(() => undefined))) {
      s3error(res, 404, 'NoSuchBucket', 'The specified bucket does not exist', bucket)
      return true
    }
    const dir = this.uploadsDir(bucket)
    if (isList) {
      const prefix = q.get('prefix') ?? ''
      const ups = []
      for (const id of await readdir(dir).catch(() => [])) {
        const k = await readFile(join(dir, id, 'key'), 'utf8').catch(() => undefined)
        if (k === undefined || !k.startsWith(prefix)) continue
        const st = await stat(join(dir, id, 'key'))
        ups.push({key: k, id, initiated: st.mtime})
      }
      ups.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.initiated - b.initiated))
      const body = ups
        .map((u) => `<Upload><Key>${esc(u.key)}</Key><UploadId>${u.id}</UploadId><Initiated>${u.initiated.toISOString()}</Initiated><StorageClass>STANDARD</StorageClass></Upload>`)
        .join('')
      xml(res, 200, `<ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>${esc(bucket)}</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker><Prefix>${esc(prefix)}</Prefix><MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated>${body}</ListMultipartUploadsResult>`)
      return true
    }
    const id = q.get('uploadId')
    const udir = join(dir, id)
    const storedKey = await readFile(join(udir, 'key'), 'utf8').catch(() => undefined)
    if (storedKey === undefined || storedKey !== key) {
      s3error(res, 404, 'NoSuchUpload', 'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.', key)
      return true
    }
    if (isAbort) {
      await rm(udir, {recursive: true, force: true})
      res.writeHead(204)
      res.end()
      return true
    }
    const parts = []
    for (const f of await readdir(udir)) {
      if (!/^\d+$/.test(f)) continue
      // a part whose upload was cut off has no .md5 yet: S3 would not list it either
      const md5 = await readFile(join(udir, `${f}.md5`), 'utf8').catch(() => undefined)
      if (!md5) continue
      const st = await stat(join(udir, f))
      parts.push({n: Number(f), md5, size: st.size, mtime: st.mtime})
    }
    parts.sort((a, b) => a.n - b.n)
    const body = parts.map((p) => `<Part><PartNumber>${p.n}</PartNumber><LastModified>${p.mtime.toISOString()}</LastModified><ETag>"${p.md5}"</ETag><Size>${p.size}</Size></Part>`).join('')
    xml(res, 200, `<ListPartsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>${esc(bucket)}</Bucket><Key>${esc(key)}</Key><UploadId>${id}</UploadId><PartNumberMarker>0</PartNumberMarker><NextPartNumberMarker>${parts.at(-1)?.n ?? 0}</NextPartNumberMarker><MaxParts>1000</MaxParts><IsTruncated>false</IsTruncated><StorageClass>STANDARD</StorageClass>${body}</ListPartsResult>`)
    return true
  }
}
