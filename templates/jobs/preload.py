# aip preload Job: streams each file of a Hugging Face repo revision into S3 (multipart, bounded
# memory), verifies it (sha256 of LFS files, git blob sha1 of the others, sizes), and writes the
# marker last: the layout and marker of `aip model preload` (src/lib/preload/layout.ts).
#
# Python standard library only, so it runs in any python3 image (a slim one fits a 20 GiB system
# node; the vLLM image works too). S3 requests are signed with SigV4 by hand (hmac/hashlib):
#   https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html
# Credentials, in the order the AWS SDKs try them:
#   AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY[/AWS_SESSION_TOKEN] (tests, S3-compatible stores);
#   EKS Pod Identity: AWS_CONTAINER_CREDENTIALS_FULL_URI + AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE
#     (the agent at 169.254.170.23 answers {AccessKeyId, SecretAccessKey, Token, Expiration});
#   IRSA: AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN -> sts:AssumeRoleWithWebIdentity.
# Inputs (environment; the typed builder in src/lib/render/preload.ts sets them):
#   AIP_BUCKET, AIP_PRELOAD_ITEMS ([{repo, revision, modelKey}]), AIP_INCLUDE / AIP_EXCLUDE (JSON
#   globs from src/lib/preload/select.ts), HF_TOKEN, HF_ENDPOINT, AWS_REGION, AWS_ENDPOINT_URL_S3,
#   AIP_PART_BYTES (default 32 MiB), AIP_UPLOAD_PARALLEL (default 4), AIP_CONNECTIONS (default 32),
#   AIP_RANGE_BYTES (default 2 MiB), AIP_BUFFER_BYTES (default 128 MiB).
# Like `aip model preload` (src/lib/preload/ranges.ts, issue 18): each file is read as RANGE-byte
# ranges over up to CONNECTIONS Hub connections at once (kept alive, one per worker thread), straight
# from the signed CDN URL its `resolve` redirects to (kept until a minute before it expires,
# resolved again when the CDN refuses it), parts uploaded as their ranges arrive, the sha256 taken
# over the whole file in order, and at most BUFFER bytes of parts held at once. A rerun (the Job's
# retry) continues a file's unfinished multipart upload, sending only the parts S3 does not have.
import calendar
import collections
import datetime
import fnmatch
import hashlib
import hmac
import http.client as httplib
import json
import os
import re
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from concurrent.futures import ThreadPoolExecutor

MARKER = '.aip-preload.json'
SCHEMA = 'aip.dev/preload/v1'
SHA = re.compile(r'^[0-9a-f]{40}$')
MiB = 1 << 20
PART = max(5 * MiB, int(os.environ.get('AIP_PART_BYTES') or 32 * MiB))
PARALLEL = max(1, int(os.environ.get('AIP_UPLOAD_PARALLEL') or 4))
CONNECTIONS = max(1, int(os.environ.get('AIP_CONNECTIONS') or 32))
RANGE = max(64 * 1024, int(os.environ.get('AIP_RANGE_BYTES') or 2 * MiB))
BUFFER = max(1, int(os.environ.get('AIP_BUFFER_BYTES') or 128 * MiB))
REGION = os.environ.get('AWS_REGION') or os.environ.get('AWS_DEFAULT_REGION') or 'us-east-1'
ATTEMPTS = 5


def log(msg):
    print(msg, flush=True)


class Fatal(Exception):
    pass


class HttpError(Exception):
    def __init__(self, status, code, message, url):
        Exception.__init__(self, '%s %s: %s (%s)' % (status, code, message, url))
        self.status, self.code = status, code


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def http(method, url, headers=None, body=None, timeout=300):
    """One request, redirects not followed; returns the open response (any status)."""
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        return _opener.open(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        return e


# ---- credentials -----------------------------------------------------------------------------

def _parse_time(s):
    """ISO 8601 (2026-01-01T00:00:00Z, fractions allowed) -> an aware datetime; None when absent."""
    if not s:
        return None
    try:
        # fromisoformat before 3.11 takes only 3 or 6 fraction digits and no Z
        t = datetime.datetime.fromisoformat(re.sub(r'\.(\d+)', lambda m: '.' + (m.group(1) + '000000')[:6], s.strip()).replace('Z', '+00:00'))
    except ValueError:
        return utcnow() + datetime.timedelta(minutes=10)  # unparseable: refresh soon rather than never
    return t if t.tzinfo else t.replace(tzinfo=datetime.timezone.utc)


class Credentials(object):
    def __init__(self):
        self.lock = threading.Lock()
        self.cur = None

    def get(self):
        with self.lock:
            if self.cur is None or (self.cur['exp'] is not None and (self.cur['exp'] - utcnow()).total_seconds() < 300):
                self.cur = self.load()
            return self.cur

    def load(self):
        env = os.environ
        if env.get('AWS_ACCESS_KEY_ID') and env.get('AWS_SECRET_ACCESS_KEY'):
            return {'id': env['AWS_ACCESS_KEY_ID'], 'secret': env['AWS_SECRET_ACCESS_KEY'], 'token': env.get('AWS_SESSION_TOKEN') or None, 'exp': None}
        full = env.get('AWS_CONTAINER_CREDENTIALS_FULL_URI')
        if not full and env.get('AWS_CONTAINER_CREDENTIALS_RELATIVE_URI'):
            full = 'http://169.254.170.2' + env['AWS_CONTAINER_CREDENTIALS_RELATIVE_URI']
        if full:
            headers = {}
            if env.get('AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE'):
                with open(env['AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE']) as f:
                    headers['Authorization'] = f.read().strip()
            elif env.get('AWS_CONTAINER_AUTHORIZATION_TOKEN'):
                headers['Authorization'] = env['AWS_CONTAINER_AUTHORIZATION_TOKEN']
            r = retry(lambda: http('GET', full, headers, timeout=10), 'credentials from ' + full)
            if r.status != 200:
                raise Fatal('the credentials endpoint %s answered %d: %s (is the EKS Pod Identity association for this ServiceAccount in place?)' % (full, r.status, r.read()[:200]))
            b = json.loads(r.read())
            return {'id': b['AccessKeyId'], 'secret': b['SecretAccessKey'], 'token': b.get('Token'), 'exp': _parse_time(b.get('Expiration'))}
        if env.get('AWS_WEB_IDENTITY_TOKEN_FILE') and env.get('AWS_ROLE_ARN'):
            with open(env['AWS_WEB_IDENTITY_TOKEN_FILE']) as f:
                token = f.read().strip()
            sts = env.get('AWS_ENDPOINT_URL_STS') or 'https://sts.%s.amazonaws.com' % REGION
            form = urllib.parse.urlencode({'Action': 'AssumeRoleWithWebIdentity', 'Version': '2011-06-15', 'RoleArn': env['AWS_ROLE_ARN'],
                                           'RoleSessionName': 'aip-preload-%d' % int(time.time()), 'WebIdentityToken': token}).encode()
            r = retry(lambda: http('POST', sts + '/', {'Content-Type': 'application/x-www-form-urlencoded'}, form, timeout=15), 'sts:AssumeRoleWithWebIdentity')
            body = r.read()
            if r.status != 200:
                raise Fatal('sts:AssumeRoleWithWebIdentity for %s answered %d: %s' % (env['AWS_ROLE_ARN'], r.status, body[:300]))
            c = {}
            for el in ET.fromstring(body).iter():
                c[el.tag.split('}')[-1]] = el.text
            return {'id': c['AccessKeyId'], 'secret': c['SecretAccessKey'], 'token': c.get('SessionToken'), 'exp': _parse_time(c.get('Expiration'))}
        raise Fatal('no AWS credentials in the pod: expected EKS Pod Identity (AWS_CONTAINER_CREDENTIALS_FULL_URI) or IRSA (AWS_WEB_IDENTITY_TOKEN_FILE); run `aip cluster bootstrap` to associate the ServiceAccount with its IAM role')


# ---- SigV4 -----------------------------------------------------------------------------------

def _hmac(key, msg):
    return hmac.new(key, msg.encode('utf-8'), hashlib.sha256).digest()


def uri_encode(s, slash=True):
    # RFC 3986 unreserved characters stay; S3 does not double-encode the path
    return urllib.parse.quote(s, safe='-_.~' + ('/' if slash else ''))


def sign(method, url, headers, payload_sha256, creds, region=REGION, service='s3', now=None):
    """Returns the headers to send: the given ones plus host, x-amz-date, x-amz-content-sha256,
    x-amz-security-token (temporary credentials) and Authorization."""
    u = urllib.parse.urlsplit(url)
    now = now or utcnow()
    amzdate = now.strftime('%Y%m%dT%H%M%SZ')
    date = amzdate[:8]
    out = dict(headers)
    out['host'] = u.netloc
    out['x-amz-date'] = amzdate
    out['x-amz-content-sha256'] = payload_sha256
    if creds.get('token'):
        out['x-amz-security-token'] = creds['token']
    pairs = urllib.parse.parse_qsl(u.query, keep_blank_values=True)
    query = '&'.join('%s=%s' % (uri_encode(k, False), uri_encode(v, False)) for k, v in sorted((k, v) for k, v in pairs))
    canon = sorted((k.lower(), ' '.join(str(v).strip().split())) for k, v in out.items())
    signed = ';'.join(k for k, _ in canon)
    creq = '\n'.join([method, u.path or '/', query, ''.join('%s:%s\n' % kv for kv in canon), signed, payload_sha256])
    scope = '%s/%s/%s/aws4_request' % (date, region, service)
    sts = '\n'.join(['AWS4-HMAC-SHA256', amzdate, scope, hashlib.sha256(creq.encode('utf-8')).hexdigest()])
    k = _hmac(_hmac(_hmac(_hmac(('AWS4' + creds['secret']).encode('utf-8'), date), region), service), 'aws4_request')
    sig = hmac.new(k, sts.encode('utf-8'), hashlib.sha256).hexdigest()
    out['Authorization'] = 'AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s' % (creds['id'], scope, signed, sig)
    return out


# ---- S3 --------------------------------------------------------------------------------------

def retry(fn, what):
    """Retries connection failures and 5xx/429/503 SlowDown answers with backoff."""
    for i in range(ATTEMPTS):
        try:
            r = fn()
            if getattr(r, 'status', 200) < 500 and getattr(r, 'status', 200) != 429:
                return r
            if i == ATTEMPTS - 1:
                return r
            r.read()
        except (OSError, urllib.error.URLError) as e:
            if i == ATTEMPTS - 1:
                raise Fatal('%s failed: %s' % (what, e))
        time.sleep(min(20, 0.5 * 2 ** i))


class S3(object):
    def __init__(self, bucket, creds):
        self.bucket, self.creds = bucket, creds
        ep = os.environ.get('AWS_ENDPOINT_URL_S3') or os.environ.get('AWS_ENDPOINT_URL')
        if ep:
            self.base = ep.rstrip('/') + '/' + uri_encode(bucket)
        elif '.' in bucket:
            self.base = 'https://s3.%s.amazonaws.com/%s' % (REGION, uri_encode(bucket))
        else:
            self.base = 'https://%s.s3.%s.amazonaws.com' % (bucket, REGION)

    def url(self, key, query=''):
        return self.base + '/' + uri_encode(key) + ('?' + query if query else '')

    def req(self, method, key, query='', body=b'', headers=None, ok=(200,)):
        url = self.url(key, query)
        digest = hashlib.sha256(body).hexdigest()

        def once():
            h = sign(method, url, dict(headers or {}, **({'content-length': str(len(body))} if method in ('PUT', 'POST') else {})), digest, self.creds.get())
            return http(method, url, h, body if method in ('PUT', 'POST') else None)
        r = retry(once, '%s s3://%s/%s' % (method, self.bucket, key))
        data = r.read()
        if r.status in ok:
            return r, data
        # HEAD answers carry no body: name the status as S3's error codes do
        code, msg = {403: 'AccessDenied', 404: 'NotFound', 301: 'PermanentRedirect (wrong region?)'}.get(r.status, str(r.status)), ''
        try:
            e = ET.fromstring(data)
            code, msg = e.findtext('Code') or code, e.findtext('Message') or ''
        except ET.ParseError:
            pass
        code = code or str(r.status)
        raise HttpError(r.status, code, msg, 's3://%s/%s' % (self.bucket, key))

    def head(self, key):
        try:
            r, _ = self.req('HEAD', key)
            return r.headers
        except HttpError as e:
            if e.status == 404:
                return None
            raise

    def text(self, key):
        try:
            return self.req('GET', key)[1].decode('utf-8').strip()
        except HttpError as e:
            if e.status == 404 and e.code != 'NoSuchBucket':
                return None
            raise

    def put(self, key, body, content_type, meta=None):
        h = {'content-type': content_type}
        for k, v in (meta or {}).items():
            h['x-amz-meta-' + k] = v
        self.req('PUT', key, body=body, headers=h)

    def create_multipart(self, key, meta):
        h = {'content-type': 'application/octet-stream'}
        for k, v in meta.items():
            h['x-amz-meta-' + k] = v
        _, data = self.req('POST', key, 'uploads=', headers=h)
        return ET.fromstring(data).findtext('{*}UploadId') or ET.fromstring(data).findtext('UploadId')

    def upload_part(self, key, upload_id, n, body):
        r, _ = self.req('PUT', key, 'partNumber=%d&uploadId=%s' % (n, uri_encode(upload_id, False)), body=body)
        return r.headers['ETag']

    def complete(self, key, upload_id, etags):
        xml = '<CompleteMultipartUpload>%s</CompleteMultipartUpload>' % ''.join(
            '<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>' % (i + 1, e.replace('&', '&amp;').replace('"', '&quot;')) for i, e in enumerate(etags))
        _, data = self.req('POST', key, 'uploadId=' + uri_encode(upload_id, False), body=xml.encode(), headers={'content-type': 'application/xml'})
        # S3 may answer 200 with an <Error> body (CompleteMultipartUpload docs)
        if b'<Error>' in data:
            e = ET.fromstring(data)
            raise HttpError(200, e.findtext('Code'), e.findtext('Message'), 's3://%s/%s' % (self.bucket, key))

    def unfinished(self, key):
        """Unfinished multipart uploads of exactly `key`, newest first: [(upload id, initiated)]."""
        out, marker = [], None
        while True:
            q = 'prefix=%s&uploads=' % uri_encode(key, False) + ('&key-marker=%s' % uri_encode(marker, False) if marker else '')
            _, data = self.req('GET', '', q)
            doc = ET.fromstring(data)
            for u in doc.iter():
                if u.tag.split('}')[-1] == 'Upload':
                    f = {c.tag.split('}')[-1]: c.text for c in u}
                    if f.get('Key') == key and f.get('UploadId'):
                        out.append((f['UploadId'], f.get('Initiated') or ''))
            if (doc.findtext('{*}IsTruncated') or doc.findtext('IsTruncated')) != 'true':
                break
            marker = doc.findtext('{*}NextKeyMarker') or doc.findtext('NextKeyMarker')
            if not marker:
                break
        return sorted(out, key=lambda x: x[1], reverse=True)

    def parts(self, key, upload_id):
        """The parts S3 has of an upload: {number: (etag without quotes, size)}."""
        out, marker = {}, '0'
        while True:
            _, data = self.req('GET', key, 'part-number-marker=%s&uploadId=%s' % (marker, uri_encode(upload_id, False)))
            doc = ET.fromstring(data)
            for p in doc.iter():
                if p.tag.split('}')[-1] == 'Part':
                    f = {c.tag.split('}')[-1]: c.text for c in p}
                    out[int(f['PartNumber'])] = ((f.get('ETag') or '').replace('"', ''), int(f.get('Size') or -1))
            if (doc.findtext('{*}IsTruncated') or doc.findtext('IsTruncated')) != 'true':
                break
            marker = doc.findtext('{*}NextPartNumberMarker') or doc.findtext('NextPartNumberMarker')
        return out

    def abort(self, key, upload_id):
        try:
            self.req('DELETE', key, 'uploadId=' + uri_encode(upload_id, False), ok=(204, 200, 404))
        except Exception as e:  # best effort: the bucket's lifecycle rule aborts what is left
            log('could not abort the multipart upload of %s: %s' % (key, e))


# ---- Hub -------------------------------------------------------------------------------------

class Hub(object):
    def __init__(self):
        self.base = (os.environ.get('HF_ENDPOINT') or 'https://huggingface.co').rstrip('/')
        self.token = (os.environ.get('HF_TOKEN') or '').strip() or None
        self.lock = threading.Lock()
        self.urls = {}  # (repo, commit, path) -> (content url, use until (epoch s))
        self.resolving = {}
        self.local = threading.local()
        # the connection budget: every range read runs on one of these threads
        self.pool = ThreadPoolExecutor(max_workers=CONNECTIONS, thread_name_prefix='hub')

    def ranges(self, repo, commit, path, start, end):
        """Futures of the bytes of [start, end) cut into RANGE-byte ranges, read on the pool."""
        return [self.pool.submit(self.fetch_range, repo, commit, path, s, min(s + RANGE, end)) for s in range(start, end, RANGE)] or [self.pool.submit(lambda: b'')]

    def _auth(self, url):
        # the token goes to the Hub only, never to the CDN a download redirects to
        same = urllib.parse.urlsplit(url).netloc == urllib.parse.urlsplit(self.base).netloc
        return {'Authorization': 'Bearer ' + self.token} if self.token and same else {}

    def open(self, url, headers=None):
        for _ in range(10):
            r = retry(lambda: http('GET', url, dict(headers or {}, **self._auth(url)), timeout=60), 'GET ' + url)
            if r.status in (301, 302, 303, 307, 308):
                url = urllib.parse.urljoin(url, r.headers['Location'])
                r.read()
                continue
            if r.status in (401, 403):
                raise Fatal('the Hub refused %s (%d %s): the repo is gated or private; set the token with `aip secret set hf-token` and accept the license on the Hub' % (url, r.status, r.headers.get('X-Error-Code', '')))
            if r.status >= 400:
                raise Fatal('the Hub answered %d for %s: %s' % (r.status, url, r.read()[:200]))
            return r
        raise Fatal('too many redirects for ' + url)

    def info(self, repo, revision):
        url = '%s/api/models/%s/revision/%s?blobs=true' % (self.base, repo, uri_encode(revision, False))
        return json.loads(self.open(url).read())

    def resolve_url(self, repo, commit, path):
        return '%s/%s/resolve/%s/%s' % (self.base, repo, commit, uri_encode(path))

    def content_url(self, repo, commit, path):
        """Where the file's bytes are: the signed CDN URL its `resolve` redirects to (HEAD), kept
        until a minute before it expires; the resolve URL itself for files the Hub serves directly.
        One resolve per file at a time (the other range readers wait for it)."""
        key = (repo, commit, path)
        with self.lock:
            lock = self.resolving.setdefault(key, threading.Lock())
        with lock:
            with self.lock:
                hit = self.urls.get(key)
            if hit and hit[1] > time.time():
                return hit[0]
            url = self.resolve_url(repo, commit, path)
            for _ in range(10):
                r = retry(lambda: http('HEAD', url, self._auth(url), timeout=60), 'HEAD ' + url)
                r.read()
                if r.status in (301, 302, 303, 307, 308):
                    # relative redirects stay on the Hub (resolve-cache); an absolute one is the
                    # content URL, as huggingface_hub's get_hf_file_metadata takes it (no HEAD on the CDN)
                    loc = r.headers['Location']
                    url = urllib.parse.urljoin(url, loc)
                    if urllib.parse.urlsplit(loc).netloc:
                        break
                    continue
                if r.status in (401, 403):
                    raise Fatal('the Hub refused %s (%d %s): the repo is gated or private; set the token with `aip secret set hf-token` and accept the license on the Hub' % (url, r.status, r.headers.get('X-Error-Code', '')))
                if r.status >= 400:
                    raise Fatal('the Hub answered %d for %s' % (r.status, url))
                break
            else:
                raise Fatal('too many redirects for ' + self.resolve_url(repo, commit, path))
            with self.lock:
                self.urls[key] = (url, url_expiry(url) - 60)
            return url

    def _conn(self, url):
        """This thread's kept-alive connection to the URL's origin."""
        u = urllib.parse.urlsplit(url)
        conns = getattr(self.local, 'conns', None)
        if conns is None:
            conns = self.local.conns = {}
        c = conns.get((u.scheme, u.netloc))
        if c is None:
            cls = httplib.HTTPSConnection if u.scheme == 'https' else httplib.HTTPConnection
            c = conns[(u.scheme, u.netloc)] = cls(u.netloc, timeout=60)
        return c, u.path + ('?' + u.query if u.query else '')

    def _drop_conn(self, url):
        u = urllib.parse.urlsplit(url)
        c = getattr(self.local, 'conns', {}).pop((u.scheme, u.netloc), None)
        if c is not None:
            c.close()

    def fetch_range(self, repo, commit, path, start, end):
        """The bytes [start, end) of the file over this thread's connection to its CDN URL; a
        dropped connection resumes at its offset inside the range; a refused (expired) URL is
        resolved again."""
        out, offset, tries, refreshed = [], start, 0, False
        while offset < end:
            url = self.content_url(repo, commit, path)
            try:
                c, target = self._conn(url)
                c.request('GET', target, headers=dict(self._auth(url), Range='bytes=%d-%d' % (offset, end - 1)))
                r = c.getresponse()
                if r.status in (400, 401, 403, 404, 410) and not refreshed and url != self.resolve_url(repo, commit, path):
                    r.read()
                    refreshed = True
                    self.forget(repo, commit, path, url)
                    continue
                if r.status == 429 or r.status >= 500:
                    r.read()
                    raise OSError('HTTP %d' % r.status)
                if r.status != 206:
                    r.read()
                    raise Fatal('the Hub answered %d to a Range request for %s (it must support HTTP Range requests)' % (r.status, path))
                while offset < end:
                    chunk = r.read(min(MiB, end - offset))
                    if not chunk:
                        raise OSError('ended early at byte %d' % offset)
                    out.append(chunk)
                    offset += len(chunk)
                tries = 0
            except (OSError, httplib.HTTPException) as e:
                self._drop_conn(url)
                tries += 1
                if tries > ATTEMPTS:
                    raise Fatal('download of %s kept failing at byte %d: %s' % (path, offset, e))
                log('  %s: connection lost at byte %d (%s); resuming' % (path, offset, e))
                time.sleep(min(20, 0.5 * 2 ** tries))
        return b''.join(out) if len(out) != 1 else out[0]

    def forget(self, repo, commit, path, url):
        with self.lock:
            hit = self.urls.get((repo, commit, path))
            if hit and hit[0] == url:
                del self.urls[(repo, commit, path)]


def url_expiry(url):
    """When a signed URL stops working (epoch seconds): CloudFront's Expires=, SigV4's X-Amz-Date +
    X-Amz-Expires; ten minutes from now when it does not say."""
    q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    if (q.get('Expires') or '').isdigit():
        return int(q['Expires'])
    m = re.match(r'^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$', q.get('X-Amz-Date') or '')
    if m and (q.get('X-Amz-Expires') or '').isdigit():
        return calendar.timegm(tuple(int(x) for x in m.groups())) + int(q['X-Amz-Expires'])
    return time.time() + 600


# ---- selection (mirrors src/lib/preload/select.ts; a test keeps them in step) -------------------

def matches(path, glob):
    g = re.sub(r'^\.?/', '', glob)
    target = path if '/' in g else path.rsplit('/', 1)[-1]
    return fnmatch.fnmatchcase(target, g)


def select(names, include, exclude, defaults):
    inc, exc = list(include), list(exclude)
    if defaults:
        st = [n for n in names if n.endswith('.safetensors') and not any(matches(n, g) for g in exc)]
        if not st and any(n.endswith('.bin') for n in names):
            inc.append('*.bin')
        cons = [n for n in st if re.match(r'^consolidated.*\.safetensors$', n)]
        if cons and len(cons) < len(st):
            exc.append('consolidated*.safetensors')
    return [n for n in names if any(matches(n, g) for g in inc) and not any(matches(n, g) for g in exc)], inc, exc


# ---- one file --------------------------------------------------------------------------------

def copy_file(hub, s3, repo, commit, sib, key):
    """Streams one file into s3 at key; returns its marker entry."""
    path, size = sib['rfilename'], int(sib.get('size') or 0)
    lfs = sib.get('lfs') or None
    want_sha = lfs.get('sha256') if lfs else None
    meta = {'aip-repo': repo, 'aip-commit': commit}
    if want_sha:
        meta['sha256'] = want_sha
        h = s3.head(key)
        if h is not None and int(h.get('Content-Length', -1)) == size and h.get('x-amz-meta-sha256') == want_sha:
            log('  %s: present (%d bytes)' % (path, size))
            return {'path': path, 'size': size, 'sha256': want_sha, 'lfs': True}, 0
    sha = hashlib.sha256()
    blob = None if lfs else hashlib.sha1(b'blob %d\0' % size)
    part = max(PART, -(-size // 9000))  # S3 allows 10,000 parts
    if size <= part:
        data = b''.join(f.result() for f in hub.ranges(repo, commit, path, 0, size))
        sha.update(data)
        if blob:
            blob.update(data)
        verify(path, size, len(data), want_sha, sha.hexdigest(), sib.get('blobId') if blob else None, blob.hexdigest() if blob else None)
        if blob:
            meta['git-blob'] = blob.hexdigest()
        meta['sha256'] = sha.hexdigest()
        s3.put(key, data, 'application/octet-stream', meta)
        return {'path': path, 'size': size, 'sha256': sha.hexdigest(), 'lfs': bool(lfs)}, size
    # Resume (like `aip model preload`): the newest unfinished upload of the key is continued, its
    # parts whose size and MD5 match are not sent again; older ones and one cut with another part
    # size are aborted. A failed run keeps its upload for the next (the Job's retry).
    upload_id, old = None, {}
    try:
        unfinished = s3.unfinished(key)
    except HttpError as e:
        if e.status != 501 and e.code != 'NotImplemented':
            raise
        unfinished = []  # a store that cannot list them: every upload starts afresh
    for i, (uid, _) in enumerate(unfinished):
        if i == 0:
            have = s3.parts(key, uid)
            expected = lambda n: min(part, size - (n - 1) * part) if (n - 1) * part < size else -2
            if all(sz in (-1, expected(n)) for n, (_, sz) in have.items()):
                upload_id, old = uid, have
                continue
        s3.abort(key, uid)
    if upload_id is None:
        upload_id = s3.create_multipart(key, meta)
    else:
        log('  %s: continuing its unfinished upload (%d parts there)' % (path, len(old)))
    reused = []
    # Memory: a part takes a slot before its ranges are read and gives it back once it is both
    # hashed (in file order, here) and uploaded (on the upload threads).
    slots = threading.Semaphore(max(1, BUFFER // part))
    lock = threading.Lock()
    left = {}  # part number -> what it still waits for (hashed, uploaded)

    def settle(num):
        with lock:
            left[num] -= 1
            free = left[num] == 0
        if free:
            slots.release()

    def send(num, ranges):
        try:
            body = b''.join(f.result() for f in ranges)
            have = old.get(num)
            if have and have[1] == len(body) and have[0] == hashlib.md5(body).hexdigest():
                reused.append(num)
                return '"%s"' % have[0]
            return s3.upload_part(key, upload_id, num, body)
        finally:
            settle(num)

    pending = collections.deque()  # (number, range futures) read or being read, not hashed yet
    futures, got = [], 0

    def hash_next():
        nonlocal got
        num, ranges = pending.popleft()
        for f in ranges:
            c = f.result()
            got += len(c)
            sha.update(c)
            if blob:
                blob.update(c)
        settle(num)

    try:
        with ThreadPoolExecutor(max_workers=PARALLEL) as uploads:
            for num, start in enumerate(range(0, size, part), 1):
                # wait for memory, hashing what is in front meanwhile (that frees it)
                while not slots.acquire(blocking=False):
                    if pending:
                        hash_next()
                    else:
                        slots.acquire()
                        break
                for f in futures:
                    if f.done() and f.exception():
                        raise f.exception()
                left[num] = 2
                ranges = hub.ranges(repo, commit, path, start, min(start + part, size))
                pending.append((num, ranges))
                futures.append(uploads.submit(send, num, ranges))
            while pending:
                hash_next()
            etags = [f.result() for f in futures]
        try:
            verify(path, size, got, want_sha, sha.hexdigest(), sib.get('blobId') if blob else None, blob.hexdigest() if blob else None)
        except Fatal:
            s3.abort(key, upload_id)  # wrong bytes: nothing of it is kept
            raise
        try:
            s3.complete(key, upload_id, etags)
        except HttpError:
            # a completion that succeeded while its answer was lost fails when retried (NoSuchUpload):
            # the object standing with this file's size and sha256 is the proof
            h = s3.head(key)
            if not (h is not None and int(h.get('Content-Length', -1)) == size and h.get('x-amz-meta-sha256') == sha.hexdigest() and want_sha):
                raise
    except BaseException:
        for _, ranges in pending:
            for f in ranges:
                f.cancel()
        raise
    if reused:
        log('  %s: %d parts reused from the unfinished upload' % (path, len(reused)))
    reused_bytes = sum(min(part, size - (n - 1) * part) for n in reused)
    return {'path': path, 'size': size, 'sha256': sha.hexdigest(), 'lfs': bool(lfs)}, size - reused_bytes


def verify(path, want_size, size, want_sha, sha, want_blob, blob):
    if size != want_size:
        raise Fatal('size mismatch for %s: expected %d bytes, got %d' % (path, want_size, size))
    if want_sha and sha != want_sha:
        raise Fatal('checksum mismatch for %s: expected sha256 %s, got %s' % (path, want_sha, sha))
    if want_blob and blob != want_blob:
        raise Fatal('checksum mismatch for %s: expected git blob %s, got %s' % (path, want_blob, blob))


# ---- main ------------------------------------------------------------------------------------

def commit_of(s3, model_key, revision):
    if SHA.match(revision):
        return revision
    c = s3.text(model_key + '/refs/' + revision)
    return c if c and SHA.match(c) else None


def preload(hub, s3, item, include, exclude, defaults):
    key, rev, repo = item['modelKey'], item['revision'], item['repo']
    commit = commit_of(s3, key, rev)
    if commit and s3.head(key + '/' + commit + '/' + MARKER) is not None:
        log('present: s3://%s/%s/%s/ (%s@%s)' % (s3.bucket, key, commit, repo, rev))
        return
    info = hub.info(repo, commit or rev)
    commit = info['sha']
    sibs = {s['rfilename']: s for s in info.get('siblings', [])}
    names, inc, exc = select(sorted(sibs), include, exclude, defaults)
    if not names:
        raise Fatal('%s@%s: no files match %s' % (repo, rev, ', '.join(inc)))
    log('%s@%s: %d files, %d bytes -> s3://%s/%s/%s/' % (repo, commit, len(names), sum(int(sibs[n].get('size') or 0) for n in names), s3.bucket, key, commit))
    files, total, sent, started = [], 0, 0, time.time()
    for n in names:
        entry, up = copy_file(hub, s3, repo, commit, sibs[n], key + '/' + commit + '/' + n)
        files.append(entry)
        total += entry['size']
        sent += up
        log('  %s: %d bytes verified' % (n, entry['size']))
    marker = {'schema': SCHEMA, 'repo': repo, 'revision': rev, 'commit': commit, 'files': files, 'totalBytes': total,
              'include': inc, 'exclude': exc, 'completedAt': utcnow().strftime('%Y-%m-%dT%H:%M:%S.000Z'), 'aipVersion': 'preload-job'}
    s3.put(key + '/' + commit + '/' + MARKER, (json.dumps(marker, indent=2) + '\n').encode(), 'application/json')
    if not SHA.match(rev):
        s3.put(key + '/refs/' + rev, (commit + '\n').encode(), 'text/plain')
    secs = max(0.001, time.time() - started)
    log('preloaded %s@%s: %d files, %d bytes (%d uploaded, %.1f MiB/s) to s3://%s/%s/%s/' % (repo, commit, len(files), total, sent, sent / MiB / secs, s3.bucket, key, commit))


def main():
    items = json.loads(os.environ['AIP_PRELOAD_ITEMS'])
    include = json.loads(os.environ.get('AIP_INCLUDE') or '[]')
    exclude = json.loads(os.environ.get('AIP_EXCLUDE') or '[]')
    defaults = os.environ.get('AIP_DEFAULT_SELECTION', '1') == '1'
    s3 = S3(os.environ['AIP_BUCKET'], Credentials())
    hub = Hub()
    for it in items:
        preload(hub, s3, it, include, exclude, defaults)


if __name__ == '__main__':
    try:
        main()
    except HttpError as e:
        hint = ''
        if e.status in (401, 403):
            hint = ' (the pod\'s role may not write this bucket/prefix: `aip cluster bootstrap` gives the aip-preload ServiceAccount its role; `aip doctor` checks the association)'
        sys.stderr.write('aip preload: %s%s\n' % (e, hint))
        sys.exit(1)
    except Fatal as e:
        sys.stderr.write('aip preload: %s\n' % e)
        sys.exit(1)
