// Serving certificates of the loopback API server, as an EKS control plane has them: a cluster CA
// (the `certificate-authority-data` of the kubeconfig, `cluster.certificateAuthority.data` of
// DescribeCluster) and a serving certificate it signs for the addresses clients dial. EKS's CA is
// a self-signed `CN=kubernetes`; kube-apiserver's serving certificate carries the names of
// pkg/controlplane/apiserver/options (kubernetes, kubernetes.default, kubernetes.default.svc, ...)
// plus the endpoint's host. ECDSA P-256 keys: generated in milliseconds through WebCrypto.
import {generate} from 'selfsigned'

let cached

/**
 * A CA and a serving certificate for 127.0.0.1 / localhost, generated once per process (every
 * server of a test file shares them; each server still checks its own tokens).
 * @returns {Promise<{caCert: string, caKey: string, cert: string, key: string, caData: string}>}
 */
export function servingCertificates() {
  cached ??= (async () => {
    const notBeforeDate = new Date(Date.now() - 60_000)
    const notAfterDate = new Date(Date.now() + 365 * 24 * 3600_000)
    const ca = await generate([{name: 'commonName', value: 'kubernetes'}], {
      keyType: 'ec',
      algorithm: 'sha256',
      notBeforeDate,
      notAfterDate,
      extensions: [
        {name: 'basicConstraints', cA: true, critical: true},
        {name: 'keyUsage', keyCertSign: true, digitalSignature: true, keyEncipherment: true, critical: true},
      ],
    })
    const names = ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local']
    const serving = await generate([{name: 'commonName', value: 'kube-apiserver'}], {
      keyType: 'ec',
      algorithm: 'sha256',
      notBeforeDate,
      notAfterDate,
      ca: {cert: ca.cert, key: ca.private},
      extensions: [
        {name: 'basicConstraints', cA: false, critical: true},
        {name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true},
        {name: 'extKeyUsage', serverAuth: true},
        {name: 'subjectAltName', altNames: [...names.map((value) => ({type: 2, value})), {type: 7, ip: '127.0.0.1'}]},
      ],
    })
    return {caCert: ca.cert, caKey: ca.private, cert: serving.cert, key: serving.private, caData: Buffer.from(ca.cert).toString('base64')}
  })()
  return cached
}
