// A stand-in for the aws CLI as a kubeconfig exec credential plugin: `aws eks get-token ...`
// prints an ExecCredential (client.authentication.k8s.io/v1beta1) on stdout, as the real one does
// (https://kubernetes.io/docs/reference/access-authn-authz/authentication/#client-go-credential-plugins),
// and appends its arguments to calls.log. Put `dir` first on PATH; register `token` with the
// loopback API server (api.addToken) so the exec path is the only way in.
import {chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

/**
 * @param {{token?: string, expiration?: string, exitCode?: number, stderr?: string}} [o]
 * @returns {{dir: string, token: string, calls: () => string[], cleanup: () => void}}
 */
export function writeFakeAws(o = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'aip-fake-aws-'))
  const token = o.token ?? 'k8s-aws-v1.fake'
  const cred = {kind: 'ExecCredential', apiVersion: 'client.authentication.k8s.io/v1beta1', spec: {}, status: {expirationTimestamp: o.expiration ?? '2099-01-01T00:00:00Z', token}}
  const script = join(dir, 'aws')
  const fail = o.exitCode ? `echo '${(o.stderr ?? 'An error occurred').replaceAll("'", '')}' >&2\nexit ${o.exitCode}\n` : ''
  writeFileSync(script, `#!/bin/sh\necho "$@" >> "${dir}/calls.log"\n${fail}echo '${JSON.stringify(cred)}'\n`)
  chmodSync(script, 0o755)
  return {
    dir,
    token,
    calls: () => {
      try {
        return readFileSync(join(dir, 'calls.log'), 'utf8').split('\n').filter(Boolean)
      } catch {
        return []
      }
    },
    cleanup: () => rmSync(dir, {recursive: true, force: true}),
  }
}
