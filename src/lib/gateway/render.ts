/**
 * The gateway's Kubernetes objects: LiteLLM proxy (2 replicas, PodDisruptionBudget, restricted Pod
 * Security), its Postgres (StatefulSet + PVC) unless an external database URL Secret is named,
 * NetworkPolicies like the models', and the exposure: a LoadBalancer Service with AWS Load
 * Balancer Controller NLB annotations, or a Gateway API Gateway + HTTPRoute.
 *
 * Secrets are not rendered here with values: `secretsToCreate` describes what install generates
 * once (the master key never leaves the cluster except to the CLI that asks for it).
 */
import {createHash} from 'node:crypto'
import {stringify} from 'yaml'

import {COMPONENT_LABEL, MANAGED_BY_LABEL, MANAGED_BY_VALUE, NAME_LABEL, PART_OF_LABEL} from '../kube/labels.js'
import type {KubeObject} from '../kube/types.js'
import {HTTP_ADDON_NAMESPACE, INTERCEPTOR_PROXY_PORT} from '../render/wake.js'
import {WAKE_HOOK_CALLBACK, WAKE_HOOK_FILE, WAKE_HOOK_SOURCE} from './wake-hook.js'

/**
 * LiteLLM's non-root image (docker/Dockerfile.non_root: USER nobody, 65534) of the 1.108.5 LTS
 * release; the same tag exists for ghcr.io/berriai/litellm and litellm-database. The non-root
 * variant is the one that runs under Pod Security "restricted".
 */
export const LITELLM_IMAGE = 'ghcr.io/berriai/litellm-non_root:v1.108.5'
export const POSTGRES_IMAGE = 'docker.io/library/postgres:17.6'
export const LITELLM_PORT = 4000
export const LITELLM_NAME = 'litellm'
export const DB_NAME = 'litellm-db'
export const MASTER_KEY_SECRET = 'litellm-master-key'
export const DB_SECRET = 'litellm-db'
export const GATEWAY_COMPONENT = 'gateway'
/** The LiteLLM pods (the Deployment's immutable selector). */
export const LITELLM_SELECTOR = {[NAME_LABEL]: LITELLM_NAME, [COMPONENT_LABEL]: GATEWAY_COMPONENT}
const DB_SELECTOR = {[NAME_LABEL]: DB_NAME, [COMPONENT_LABEL]: 'gateway-db'}
const NOBODY = 65534
const POSTGRES_UID = 999
const NS_LABEL = 'kubernetes.io/metadata.name'

/** First-install defaults of the settings `aip gateway install` takes (settings.ts keeps them on a rerun). */
export const DEFAULT_REPLICAS = 2
export const DEFAULT_STORAGE_SIZE = '10Gi'
export const DEFAULT_LITELLM_RESOURCES: Required<ContainerResources> = {requests: {cpu: '500m', memory: '1Gi'}, limits: {memory: '2Gi'}}
// kubernetes-sigs.github.io/aws-load-balancer-controller/latest/guide/service/annotations
export const LB_SCHEME_ANNOTATION = 'service.beta.kubernetes.io/aws-load-balancer-scheme'
/** deprecated in favour of the scheme annotation; still read */
export const LB_INTERNAL_ANNOTATION = 'service.beta.kubernetes.io/aws-load-balancer-internal'
export const LB_SSL_CERT_ANNOTATION = 'service.beta.kubernetes.io/aws-load-balancer-ssl-cert'

/** A container's resources as Kubernetes takes them (resource name -> quantity). */
export interface ContainerResources {
  requests?: Record<string, string>
  limits?: Record<string, string>
}

export interface GatewayRenderOptions {
  namespace: string
  replicas?: number
  image?: string
  /** the LiteLLM container's requests and limits (default DEFAULT_LITELLM_RESOURCES) */
  resources?: ContainerResources
  /** `NAME` or `NAME:KEY` of a Secret holding the database URL (RDS); no Postgres is rendered. */
  databaseUrlSecret?: {name: string; key: string}
  storageClass?: string
  storageSize?: string
  /** Exposure: a LoadBalancer Service (NLB), or a Gateway + HTTPRoute with this GatewayClass. */
  exposure: {kind: 'loadbalancer'; internal: boolean; certificateArn?: string} | {kind: 'httproute'; gatewayClass: string; hostname?: string; certificateArn?: string; tlsSecret?: string}
}

function labels(name: string, component: string): Record<string, string> {
  return {[MANAGED_BY_LABEL]: MANAGED_BY_VALUE, [NAME_LABEL]: name, [COMPONENT_LABEL]: component, [PART_OF_LABEL]: 'aip'}
}

function meta(o: GatewayRenderOptions, name: string, component = GATEWAY_COMPONENT, nameLabel = LITELLM_NAME, annotations?: Record<string, string>): KubeObject['metadata'] {
  return {name, namespace: o.namespace, labels: labels(nameLabel, component), ...(annotations ? {annotations} : {})}
}

/** The proxy's config.yaml: models live in the database (store_model_in_db), keys come from env. */
export function litellmConfig(): Record<string, unknown> {
  return {
    model_list: [],
    general_settings: {
      master_key: 'os.environ/LITELLM_MASTER_KEY',
      database_url: 'os.environ/DATABASE_URL',
      store_model_in_db: true,
      // /health/readiness answers only when the DB is connected; no UI login is needed by aip
      disable_spend_logs: false,
    },
    // callbacks: the scale-from-zero hook (wake-hook.ts), a module next to this file in the ConfigMap
    litellm_settings: {drop_params: true, request_timeout: 600, callbacks: [WAKE_HOOK_CALLBACK]},
    router_settings: {num_retries: 1},
  }
}

// cluster DNS on port 53 to any address: EKS Auto Mode's CoreDNS runs on each node, not as kube-dns
// pods (as in src/lib/render/network.ts)
const DNS_EGRESS = {
  ports: [
    {protocol: 'UDP', port: 53},
    {protocol: 'TCP', port: 53},
  ],
}

function securityContext(uid: number, readOnlyRoot: boolean): Record<string, unknown> {
  return {runAsNonRoot: true, runAsUser: uid, allowPrivilegeEscalation: false, readOnlyRootFilesystem: readOnlyRoot, capabilities: {drop: ['ALL']}, seccompProfile: {type: 'RuntimeDefault'}}
}

function podSecurity(uid: number): Record<string, unknown> {
  return {runAsNonRoot: true, runAsUser: uid, runAsGroup: uid, fsGroup: uid, seccompProfile: {type: 'RuntimeDefault'}}
}

export function renderGatewayNamespace(o: GatewayRenderOptions): KubeObject {
  const pss: Record<string, string> = {}
  for (const mode of ['enforce', 'audit', 'warn']) {
    pss[`pod-security.kubernetes.io/${mode}`] = 'restricted'
    pss[`pod-security.kubernetes.io/${mode}-version`] = 'latest'
  }
  return {apiVersion: 'v1', kind: 'Namespace', metadata: {name: o.namespace, labels: {...labels('aip-gateway', GATEWAY_COMPONENT), ...pss}}}
}

export function databaseUrlRef(o: GatewayRenderOptions): {name: string; key: string} {
  return o.databaseUrlSecret ?? {name: DB_SECRET, key: 'url'}
}

export function renderLitellm(o: GatewayRenderOptions): KubeObject[] {
  const config = stringify(litellmConfig())
  const configHash = createHash('sha256').update(config).update(WAKE_HOOK_SOURCE).digest('hex').slice(0, 16)
  const db = databaseUrlRef(o)
  const configMap: KubeObject = {apiVersion: 'v1', kind: 'ConfigMap', metadata: meta(o, LITELLM_NAME), data: {'config.yaml': config, [WAKE_HOOK_FILE]: WAKE_HOOK_SOURCE}}
  const sa: KubeObject = {apiVersion: 'v1', kind: 'ServiceAccount', metadata: meta(o, LITELLM_NAME), automountServiceAccountToken: false}
  const container = {
    name: 'litellm',
    image: o.image ?? LITELLM_IMAGE,
    imagePullPolicy: 'IfNotPresent',
    args: ['--config', '/etc/litellm/config.yaml', '--port', String(LITELLM_PORT)],
    ports: [{name: 'http', containerPort: LITELLM_PORT, protocol: 'TCP'}],
    env: [
      {name: 'LITELLM_MASTER_KEY', valueFrom: {secretKeyRef: {name: MASTER_KEY_SECRET, key: 'master-key'}}},
      // encrypts credentials stored in the DB; must never change after the first model is added
      {name: 'LITELLM_SALT_KEY', valueFrom: {secretKeyRef: {name: MASTER_KEY_SECRET, key: 'salt-key'}}},
      {name: 'DATABASE_URL', valueFrom: {secretKeyRef: {name: db.name, key: db.key}}},
      {name: 'STORE_MODEL_IN_DB', value: 'True'},
      {name: 'LITELLM_LOG', value: 'INFO'},
      {name: 'LITELLM_TELEMETRY', value: 'False'},
      // the bundled model cost map: the NetworkPolicy allows no egress to GitHub, where LiteLLM would
      // otherwise fetch it with a 5 s timeout at every start (litellm_core_utils/get_model_cost_map.py)
      {name: 'LITELLM_LOCAL_MODEL_COST_MAP', value: 'True'},
    ],
    resources: Object.fromEntries(Object.entries(o.resources ?? DEFAULT_LITELLM_RESOURCES).filter(([, v]) => v && Object.keys(v).length > 0)),
    // The root filesystem stays writable: LiteLLM's start (prisma generate / migrate) writes under
    // /app. Pod Security "restricted" does not require a read-only root; everything else it does.
    securityContext: securityContext(NOBODY, false),
    volumeMounts: [
      {name: 'config', mountPath: '/etc/litellm', readOnly: true},
      {name: 'tmp', mountPath: '/tmp'},
    ],
    // LiteLLM's health routes (docs.litellm.ai/docs/proxy/health): /health/liveliness answers
    // while the process runs; /health/readiness also checks the DB connection. The first start
    // runs the DB migrations, so the startup probe allows minutes.
    startupProbe: {httpGet: {path: '/health/liveliness', port: 'http'}, periodSeconds: 5, timeoutSeconds: 5, failureThreshold: 60},
    livenessProbe: {httpGet: {path: '/health/liveliness', port: 'http'}, periodSeconds: 15, timeoutSeconds: 5, failureThreshold: 4},
    readinessProbe: {httpGet: {path: '/health/readiness', port: 'http'}, periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 3},
  }
  const deployment: KubeObject = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: meta(o, LITELLM_NAME),
    spec: {
      replicas: o.replicas ?? DEFAULT_REPLICAS,
      revisionHistoryLimit: 3,
      selector: {matchLabels: LITELLM_SELECTOR},
      strategy: {type: 'RollingUpdate', rollingUpdate: {maxSurge: 1, maxUnavailable: 0}},
      template: {
        metadata: {labels: {...labels(LITELLM_NAME, GATEWAY_COMPONENT), ...LITELLM_SELECTOR}, annotations: {'aip.dev/config-hash': configHash}},
        spec: {
          serviceAccountName: LITELLM_NAME,
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          terminationGracePeriodSeconds: 30,
          securityContext: podSecurity(NOBODY),
          // one replica per node where possible: a node drain never takes the whole gateway
          topologySpreadConstraints: [{maxSkew: 1, topologyKey: 'kubernetes.io/hostname', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: {matchLabels: LITELLM_SELECTOR}}],
          containers: [container],
          volumes: [
            {name: 'config', configMap: {name: LITELLM_NAME}},
            {name: 'tmp', emptyDir: {sizeLimit: '1Gi'}},
          ],
        },
      },
    },
  }
  const pdb: KubeObject = {apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: meta(o, LITELLM_NAME), spec: {maxUnavailable: 1, selector: {matchLabels: LITELLM_SELECTOR}, unhealthyPodEvictionPolicy: 'AlwaysAllow'}}
  return [sa, configMap, deployment, pdb]
}

/** The public Service: an NLB (AWS Load Balancer Controller annotations), or ClusterIP behind an HTTPRoute. */
export function renderLitellmService(o: GatewayRenderOptions): KubeObject {
  if (o.exposure.kind === 'httproute') {
    return {apiVersion: 'v1', kind: 'Service', metadata: meta(o, LITELLM_NAME), spec: {type: 'ClusterIP', selector: LITELLM_SELECTOR, ports: [{name: 'http', port: LITELLM_PORT, targetPort: 'http', protocol: 'TCP'}]}}
  }
  const e = o.exposure
  // kubernetes-sigs.github.io/aws-load-balancer-controller/latest/guide/service/annotations
  const annotations: Record<string, string> = {
    'service.beta.kubernetes.io/aws-load-balancer-type': 'external',
    'service.beta.kubernetes.io/aws-load-balancer-nlb-target-type': 'ip',
    [LB_SCHEME_ANNOTATION]: e.internal ? 'internal' : 'internet-facing',
    'service.beta.kubernetes.io/aws-load-balancer-healthcheck-path': '/health/liveliness',
    'service.beta.kubernetes.io/aws-load-balancer-healthcheck-protocol': 'HTTP',
    'service.beta.kubernetes.io/aws-load-balancer-healthcheck-port': 'traffic-port',
  }
  if (e.certificateArn) {
    annotations[LB_SSL_CERT_ANNOTATION] = e.certificateArn
    annotations['service.beta.kubernetes.io/aws-load-balancer-ssl-ports'] = 'https'
  }
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(o, LITELLM_NAME, GATEWAY_COMPONENT, LITELLM_NAME, annotations),
    spec: {
      type: 'LoadBalancer',
      selector: LITELLM_SELECTOR,
      ports: [e.certificateArn ? {name: 'https', port: 443, targetPort: 'http', protocol: 'TCP'} : {name: 'http', port: 80, targetPort: 'http', protocol: 'TCP'}],
    },
  }
}

/** Gateway API: a Gateway of the given class (HTTPS when TLS is given) and the HTTPRoute to LiteLLM. */
export function renderHttpRoute(o: GatewayRenderOptions): KubeObject[] {
  if (o.exposure.kind !== 'httproute') return []
  const e = o.exposure
  const tls = e.tlsSecret || e.certificateArn
  const listener: Record<string, unknown> = {name: tls ? 'https' : 'http', protocol: tls ? 'HTTPS' : 'HTTP', port: tls ? 443 : 80, ...(e.hostname ? {hostname: e.hostname} : {}), allowedRoutes: {namespaces: {from: 'Same'}}}
  if (e.tlsSecret) listener.tls = {mode: 'Terminate', certificateRefs: [{kind: 'Secret', name: e.tlsSecret}]}
  // An ACM certificate is implementation-specific: Gateway API carries it in tls.options (GEP-1762)
  else if (e.certificateArn) listener.tls = {mode: 'Terminate', options: {[LB_SSL_CERT_ANNOTATION]: e.certificateArn}}
  const gateway: KubeObject = {apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: meta(o, LITELLM_NAME), spec: {gatewayClassName: e.gatewayClass, listeners: [listener]}}
  const route: KubeObject = {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: meta(o, LITELLM_NAME),
    spec: {
      parentRefs: [{name: LITELLM_NAME, sectionName: listener.name}],
      ...(e.hostname ? {hostnames: [e.hostname]} : {}),
      rules: [{matches: [{path: {type: 'PathPrefix', value: '/'}}], backendRefs: [{name: LITELLM_NAME, port: LITELLM_PORT}], timeouts: {request: '600s'}}],
    },
  }
  return [gateway, route]
}

export function renderPostgres(o: GatewayRenderOptions): KubeObject[] {
  if (o.databaseUrlSecret) return []
  const svc: KubeObject = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta(o, DB_NAME, 'gateway-db', DB_NAME),
    // headless: the StatefulSet's governing Service; its one pod answers litellm-db.<ns>.svc
    spec: {clusterIP: 'None', selector: DB_SELECTOR, ports: [{name: 'postgres', port: 5432, targetPort: 'postgres', protocol: 'TCP'}]},
  }
  const sts: KubeObject = {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: meta(o, DB_NAME, 'gateway-db', DB_NAME),
    spec: {
      serviceName: DB_NAME,
      replicas: 1,
      selector: {matchLabels: DB_SELECTOR},
      template: {
        metadata: {labels: {...labels(DB_NAME, 'gateway-db'), ...DB_SELECTOR}},
        spec: {
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          terminationGracePeriodSeconds: 60,
          securityContext: podSecurity(POSTGRES_UID),
          containers: [
            {
              name: 'postgres',
              image: POSTGRES_IMAGE,
              imagePullPolicy: 'IfNotPresent',
              ports: [{name: 'postgres', containerPort: 5432, protocol: 'TCP'}],
              env: [
                {name: 'POSTGRES_USER', value: 'litellm'},
                {name: 'POSTGRES_DB', value: 'litellm'},
                {name: 'POSTGRES_PASSWORD', valueFrom: {secretKeyRef: {name: DB_SECRET, key: 'password'}}},
                // a subdirectory: the volume's root holds lost+found, which initdb refuses
                {name: 'PGDATA', value: '/var/lib/postgresql/data/pgdata'},
              ],
              resources: {requests: {cpu: '250m', memory: '512Mi'}, limits: {memory: '1Gi'}},
              securityContext: securityContext(POSTGRES_UID, true),
              readinessProbe: {exec: {command: ['pg_isready', '-U', 'litellm', '-d', 'litellm', '-h', '127.0.0.1']}, periodSeconds: 10, timeoutSeconds: 5},
              livenessProbe: {exec: {command: ['pg_isready', '-U', 'litellm', '-d', 'litellm', '-h', '127.0.0.1']}, periodSeconds: 30, timeoutSeconds: 5, failureThreshold: 6},
              volumeMounts: [
                {name: 'data', mountPath: '/var/lib/postgresql/data'},
                {name: 'run', mountPath: '/var/run/postgresql'},
                {name: 'tmp', mountPath: '/tmp'},
              ],
            },
          ],
          volumes: [
            {name: 'run', emptyDir: {}},
            {name: 'tmp', emptyDir: {sizeLimit: '256Mi'}},
          ],
        },
      },
      volumeClaimTemplates: [
        {
          metadata: {name: 'data', labels: labels(DB_NAME, 'gateway-db')},
          spec: {accessModes: ['ReadWriteOnce'], ...(o.storageClass ? {storageClassName: o.storageClass} : {}), resources: {requests: {storage: o.storageSize ?? DEFAULT_STORAGE_SIZE}}},
        },
      ],
    },
  }
  return [svc, sts]
}

/**
 * Default deny for the namespace, then: LiteLLM takes TCP 4000 from anywhere (the NLB, the API
 * server's pod proxy, in-cluster callers: keys guard it) and calls DNS, its database, and model
 * servers (aip-managed pods, port 8000, any namespace); Postgres takes 5432 from LiteLLM only.
 */
export function renderGatewayNetworkPolicies(o: GatewayRenderOptions): KubeObject[] {
  const np = (name: string, spec: Record<string, unknown>, component = GATEWAY_COMPONENT): KubeObject => ({apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: meta(o, name, component, name === DB_NAME ? DB_NAME : LITELLM_NAME), spec})
  const dbEgress = o.databaseUrlSecret
    ? {to: [{ipBlock: {cidr: '0.0.0.0/0', except: ['169.254.169.254/32']}}], ports: [{protocol: 'TCP', port: 5432}]}
    : {to: [{podSelector: {matchLabels: DB_SELECTOR}}], ports: [{protocol: 'TCP', port: 5432}]}
  const out = [
    np('default-deny', {podSelector: {}, policyTypes: ['Ingress', 'Egress']}),
    np(LITELLM_NAME, {
      podSelector: {matchLabels: LITELLM_SELECTOR},
      policyTypes: ['Ingress', 'Egress'],
      ingress: [{ports: [{protocol: 'TCP', port: LITELLM_PORT}]}],
      egress: [
        DNS_EGRESS,
        dbEgress,
        // both serving tracks (render/common.ts serverSelector): a rollout's canary pods are component server-canary
        {to: [{namespaceSelector: {}, podSelector: {matchLabels: {[MANAGED_BY_LABEL]: MANAGED_BY_VALUE}, matchExpressions: [{key: COMPONENT_LABEL, operator: 'In', values: ['server', 'server-canary']}]}}], ports: [{protocol: 'TCP', port: 8000}]},
        // scale from zero: models at zero are reached through the KEDA HTTP add-on's interceptor
        {to: [{namespaceSelector: {matchLabels: {[NS_LABEL]: HTTP_ADDON_NAMESPACE}}}], ports: [{protocol: 'TCP', port: INTERCEPTOR_PROXY_PORT}]},
      ],
    }),
  ]
  if (!o.databaseUrlSecret) {
    out.push(np(DB_NAME, {podSelector: {matchLabels: DB_SELECTOR}, policyTypes: ['Ingress', 'Egress'], ingress: [{from: [{podSelector: {matchLabels: LITELLM_SELECTOR}}], ports: [{protocol: 'TCP', port: 5432}]}], egress: []}, 'gateway-db'))
  }
  return out
}

export interface RenderedGateway {
  /** In apply order (namespace, policies, database, proxy, exposure). */
  objects: KubeObject[]
  /** Secrets install creates once with generated values (never rendered with them). */
  secrets: Array<{name: string; keys: string[]}>
}

export function renderGateway(o: GatewayRenderOptions): RenderedGateway {
  const objects = [renderGatewayNamespace(o), ...renderGatewayNetworkPolicies(o), ...renderPostgres(o), ...renderLitellm(o), renderLitellmService(o), ...renderHttpRoute(o)]
  const secrets = [{name: MASTER_KEY_SECRET, keys: ['master-key', 'salt-key']}, ...(o.databaseUrlSecret ? [] : [{name: DB_SECRET, keys: ['password', 'url']}])]
  return {objects, secrets}
}

/** Kinds the gateway is made of (status, teardown by label). */
export const GATEWAY_KINDS = [
  {apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute'},
  {apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway'},
  {apiVersion: 'v1', kind: 'Service'},
  {apiVersion: 'policy/v1', kind: 'PodDisruptionBudget'},
  {apiVersion: 'apps/v1', kind: 'Deployment'},
  {apiVersion: 'apps/v1', kind: 'StatefulSet'},
  {apiVersion: 'v1', kind: 'ConfigMap'},
  {apiVersion: 'v1', kind: 'ServiceAccount'},
  {apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy'},
] as const
