import type {CatalogEntry} from '../catalog/schema.js'
import {COMPONENT_LABEL, MODEL_LABEL} from '../kube/labels.js'
import type {KubeObject} from '../kube/types.js'
import {meta, objectName, type RenderOptions, serverMeta, serverSelector, VLLM_PORT} from './common.js'
import {HTTP_ADDON_NAMESPACE, wakeEnabled} from './wake.js'

const NS_LABEL = 'kubernetes.io/metadata.name'

/**
 * Egress every aip pod needs: cluster DNS, port 53 to any address. Not only kube-dns pods: EKS Auto
 * Mode runs CoreDNS as a service on each node (no kube-dns pods to select), and NodeLocal DNSCache
 * answers on a link-local address; a rule naming the pods blocks DNS there once policies are enforced.
 */
const DNS_EGRESS = {
  ports: [
    {protocol: 'UDP', port: 53},
    {protocol: 'TCP', port: 53},
  ],
}

/**
 * HTTPS anywhere except the instance metadata service (S3 has no stable address ranges a
 * NetworkPolicy could name; IRSA and Pod Identity need no IMDS), plus the EKS Pod Identity agent.
 */
const HTTPS_EGRESS = [
  {to: [{ipBlock: {cidr: '0.0.0.0/0', except: ['169.254.169.254/32']}}], ports: [{protocol: 'TCP', port: 443}]},
  {to: [{ipBlock: {cidr: '169.254.170.23/32'}}], ports: [{protocol: 'TCP', port: 80}]},
]

/** S3-compatible endpoints on another port (e.g. MinIO on 9000) need that port too. */
function endpointEgress(opts: RenderOptions): Array<Record<string, unknown>> {
  if (!opts.s3Endpoint) return []
  const u = new URL(opts.s3Endpoint)
  const port = Number(u.port || (u.protocol === 'https:' ? 443 : 80))
  return port === 443 ? [] : [{ports: [{protocol: 'TCP', port}]}]
}

/**
 * The model server: default deny in both directions (both policy types, nothing else allowed), then
 * ingress from the gateway namespace and from Prometheus on the serving/metrics port, egress to DNS
 * and S3 over HTTPS.
 */
export function renderServerNetworkPolicy(entry: CatalogEntry, opts: RenderOptions): KubeObject {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: serverMeta(entry, opts, 'network'),
    spec: {
      podSelector: {matchLabels: serverSelector(entry, opts)},
      policyTypes: ['Ingress', 'Egress'],
      ingress: [
        {from: [{namespaceSelector: {matchLabels: {[NS_LABEL]: opts.gatewayNamespace}}}], ports: [{protocol: 'TCP', port: VLLM_PORT}]},
        {from: [{namespaceSelector: {matchLabels: {[NS_LABEL]: opts.monitoringNamespace}}}], ports: [{protocol: 'TCP', port: VLLM_PORT}]},
        // the KEDA HTTP add-on's interceptor forwards held requests (wake on request, wake.ts)
        ...(wakeEnabled(entry, opts) ? [{from: [{namespaceSelector: {matchLabels: {[NS_LABEL]: HTTP_ADDON_NAMESPACE}}}], ports: [{protocol: 'TCP', port: VLLM_PORT}]}] : []),
      ],
      egress: [DNS_EGRESS, ...HTTPS_EGRESS, ...endpointEgress(opts)],
    },
  }
}

/** The preload Job's pods: no ingress at all; egress DNS and HTTPS (Hub + S3). */
export function renderPreloadNetworkPolicy(entry: CatalogEntry, opts: RenderOptions): KubeObject {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: meta(entry, opts, 'network', `${objectName(entry.name)}-preload`),
    spec: {
      podSelector: {matchLabels: {[MODEL_LABEL]: entry.name, [COMPONENT_LABEL]: 'preload'}},
      policyTypes: ['Ingress', 'Egress'],
      ingress: [],
      egress: [DNS_EGRESS, ...HTTPS_EGRESS, ...endpointEgress(opts)],
    },
  }
}
