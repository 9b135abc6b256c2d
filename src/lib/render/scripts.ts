/**
 * Small Python programs run inside the vLLM image (its Dockerfile installs boto3 with the Run:ai
 * streamer's S3 extra, so no extra image is pulled). The preload Job's program is
 * templates/jobs/preload.py (standard library only: it runs in a small image on a system node). They are constants: every input arrives through environment variables
 * that the typed builders set, so nothing is templated into code.
 *
 * S3 layout (same as `aip model preload`, src/lib/preload/layout.ts):
 *   MODELKEY/COMMIT/...  MODELKEY/COMMIT/.aip-preload.json (marker, last)  MODELKEY/refs/REVISION
 */

/** Shared helpers: S3 client, object presence, branch -> commit through refs/REVISION. */
const S3_PRELUDE = `
import json, os, re, sys, time, boto3, botocore
MARKER = '.aip-preload.json'
SHA = re.compile(r'^[0-9a-f]{40}$')
bucket = os.environ['AIP_BUCKET']
s3 = boto3.client('s3', endpoint_url=os.environ.get('AWS_ENDPOINT_URL_S3') or None)
def missing(e):
    return e.response.get('Error', {}).get('Code') in ('404', 'NoSuchKey', 'NotFound')
def present(key):
    try:
        s3.head_object(Bucket=bucket, Key=key); return True
    except botocore.exceptions.ClientError as e:
        if missing(e): return False
        raise
def read(key):
    try:
        return s3.get_object(Bucket=bucket, Key=key)['Body'].read().decode().strip()
    except botocore.exceptions.ClientError as e:
        if missing(e): return None
        raise
def commit_of(model_key, revision):
    if SHA.match(revision): return revision
    c = read(model_key + '/refs/' + revision)
    return c if c and SHA.match(c) else None
`.trim()

/**
 * Readiness gate. Passes only after one real completion succeeded against this very vLLM process,
 * then tracks /health. The marker name carries PID 1's start time: a restarted container (same pod,
 * same /tmp emptyDir) must warm up again.
 */
export const READINESS_SCRIPT = `
import json, os, sys, urllib.request
base = 'http://127.0.0.1:' + os.environ.get('AIP_PORT', '8000')
try:
    start = open('/proc/1/stat').read().rsplit(')', 1)[1].split()[19]
    marker = '/tmp/aip-warm-' + start
    if not os.path.exists(marker):
        body = json.dumps({'model': os.environ['AIP_SERVED_MODEL'], 'prompt': 'Hello', 'max_tokens': 1, 'temperature': 0}).encode()
        req = urllib.request.Request(base + '/v1/completions', data=body, headers={'content-type': 'application/json'})
        out = json.loads(urllib.request.urlopen(req, timeout=8).read())
        if not out.get('choices'):
            print('warm-up returned no choices'); sys.exit(1)
        open(marker, 'w').close()
    sys.exit(0 if urllib.request.urlopen(base + '/health', timeout=2).status == 200 else 1)
except Exception as e:
    print('not ready: %s' % e); sys.exit(1)
`.trim()

/**
 * Init container of the server: blocks until the weights are completely in S3 (marker present), so a
 * deploy applied in one go (or with --no-wait) never crash-loops vLLM on missing weights. Writes the
 * resolved s3:// URI to /cache/aip/weights-uri (read by the server's start command for a branch).
 */
export const WAIT_FOR_WEIGHTS_SCRIPT = `${S3_PRELUDE}
key, rev, waited = os.environ['AIP_MODEL_KEY'], os.environ['AIP_REVISION'], 0
while True:
    commit = commit_of(key, rev)
    if commit and present(key + '/' + commit + '/' + MARKER):
        uri = 's3://%s/%s/%s/' % (bucket, key, commit)
        os.makedirs('/cache/aip', exist_ok=True)
        open('/cache/aip/weights-uri', 'w').write(uri)
        print('weights present: ' + uri); break
    if waited % 60 == 0: print('waiting for s3://%s/%s@%s (the preload job writes it)' % (bucket, key, rev), flush=True)
    time.sleep(10); waited += 10
`

/** Init container of a model with LoRA adapters: copies each adapter's files from S3 to /adapters/<name>. */
export const ADAPTER_SYNC_SCRIPT = `${S3_PRELUDE}
for a in json.loads(os.environ['AIP_ADAPTERS']):
    commit = commit_of(a['modelKey'], a['revision'])
    if not commit or not present(a['modelKey'] + '/' + commit + '/' + MARKER):
        sys.exit('adapter %s: not preloaded at s3://%s/%s@%s (run the preload job first)' % (a['name'], bucket, a['modelKey'], a['revision']))
    prefix, n = a['modelKey'] + '/' + commit + '/', 0
    for page in s3.get_paginator('list_objects_v2').paginate(Bucket=bucket, Prefix=prefix):
        for o in page.get('Contents', []):
            rel = o['Key'][len(prefix):]
            if not rel or rel.startswith('.'): continue
            dest = os.path.join('/adapters', a['name'], rel)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            s3.download_file(bucket, o['Key'], dest); n += 1
    print('adapter %s: %d files from %s' % (a['name'], n, prefix))
`

/** Start command for a branch revision: vLLM loads the commit the init container resolved. */
export const SERVE_RESOLVED_SCRIPT = 'exec vllm serve "$(cat /cache/aip/weights-uri)" "$@"'
