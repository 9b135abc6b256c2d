import * as Flags from '@oclif/core/flags'
import {stringify} from 'yaml'

import {AipCommand} from '../../base-command.js'
import {gatewayFlags, kubeFlags, waitFlags} from '../../flags.js'
import {parseDuration} from '../../lib/config/index.js'
import type {InstallResult} from '../../lib/gateway/install.js'
import {renderKeyValues, renderTable} from '../../lib/output/index.js'

export default class GatewayInstall extends AipCommand {
  static override summary = 'Install the gateway: one OpenAI-compatible endpoint with API keys (LiteLLM) in front of every model'
  static override description = `Applies, in namespace aip-gateway (config gateway-namespace): the LiteLLM proxy (pinned image, 2 replicas, PodDisruptionBudget, Pod Security "restricted", readiness on /health/readiness), its Postgres (a StatefulSet with a PVC; --database-url-secret names a Secret with the URL of an external database such as RDS instead), NetworkPolicies (default deny; the proxy takes port 4000 and calls DNS, its database and model servers on 8000), and the exposure: a LoadBalancer Service with AWS Load Balancer Controller NLB annotations (--internal for a private one; --certificate-arn for TLS on 443), or with --gateway-class a Gateway API Gateway + HTTPRoute (TLS from --tls-secret or --certificate-arn).
The master key (sk-..., as LiteLLM requires) and the salt key are generated into Secret litellm-master-key once and never printed; a rerun keeps them.
Rerunning: every setting whose flag is omitted keeps what the installed gateway has (read from its Service, Gateway, HTTPRoute, Deployment and StatefulSet); a given flag changes only its own setting; the defaults apply only to a first install. Go back to a default by passing it: --no-internal, --replicas 2, --gateway-class none, --certificate-arn none, --database-url-secret none... The output lists each setting as kept, changed (old -> new), unchanged, default or set (also with --dry-run). \`aip cluster bootstrap --gateway\` reruns the same way, with every flag omitted.
Models deployed afterwards are registered by \`aip model deploy\`; those deployed before by \`aip gateway reconcile\`.`
  static override enableJsonFlag = true
  static override handlesInterrupt = true
  static override examples = [
    '<%= config.bin %> gateway install',
    '<%= config.bin %> gateway install --internal --certificate-arn arn:aws:acm:us-east-1:123456789012:certificate/abc',
    '<%= config.bin %> gateway install --database-url-secret litellm-rds:url',
    '<%= config.bin %> gateway install --gateway-class aws-alb --hostname llm.example.com --tls-secret llm-tls',
    '<%= config.bin %> gateway install -o yaml > gateway.yaml',
  ]

  static override flags = {
    kubeconfig: kubeFlags.kubeconfig,
    context: kubeFlags.context,
    ...waitFlags,
    ...gatewayFlags,
    replicas: Flags.integer({description: 'proxy replicas (default: the current ones, else 2)', min: 1}),
    image: Flags.string({description: 'LiteLLM image, pinned tag (default: the current one, else the release this aip pins)'}),
    requests: Flags.string({description: 'resource requests of the proxy container, NAME=QUANTITY,... (default: the current ones, else cpu=500m,memory=1Gi); none: no requests'}),
    limits: Flags.string({description: 'resource limits of the proxy container, NAME=QUANTITY,... (default: the current ones, else memory=2Gi); none: no limits'}),
    'database-url-secret': Flags.string({description: 'Secret NAME[:KEY] (key default url) with the Postgres URL of an external database (RDS), or none for the in-cluster Postgres (default: the current database, else in-cluster)', helpGroup: 'DATABASE'}),
    'storage-class': Flags.string({description: 'StorageClass of the in-cluster Postgres PVC, or none for the cluster default (first install only: a volume keeps its class)', helpGroup: 'DATABASE'}),
    'storage-size': Flags.string({description: 'size of the in-cluster Postgres PVC (first install only, default 10Gi: a volume keeps its size)', helpGroup: 'DATABASE'}),
    internal: Flags.boolean({description: 'an internal NLB (reachable from the VPC only); --no-internal: internet-facing (default: the current scheme, else internet-facing)', allowNo: true, helpGroup: 'EXPOSURE'}),
    'gateway-class': Flags.string({description: 'expose through a Gateway API Gateway of this GatewayClass + HTTPRoute instead of a LoadBalancer Service; none: the LoadBalancer Service (default: the current exposure, else none)', helpGroup: 'EXPOSURE'}),
    hostname: Flags.string({description: 'hostname of the HTTPRoute / Gateway listener, or none (default: the current one)', helpGroup: 'EXPOSURE'}),
    'certificate-arn': Flags.string({description: 'ACM certificate for TLS (NLB listener on 443, or the Gateway listener), or none for plain HTTP (default: the current one, else none)', helpGroup: 'EXPOSURE'}),
    'tls-secret': Flags.string({description: 'TLS Secret (kubernetes.io/tls) for the Gateway listener, or none (default: the current one)', helpGroup: 'EXPOSURE'}),
    tenant: Flags.string({description: 'tenant to make a gateway team for (repeatable; default: config tenants)', multiple: true}),
    'dry-run': Flags.boolean({description: 'server-side dry run: validate, store nothing (without a cluster: render only)', default: false}),
    output: Flags.string({char: 'o', description: 'print the rendered objects only (Secrets are created by install, never rendered with values)', options: ['yaml', 'json']}),
    'force-conflicts': Flags.boolean({description: 'take over fields another field manager owns', default: false}),
  }

  async run(): Promise<Omit<InstallResult, 'manifests'>> {
    const {flags} = await this.parse(GatewayInstall)
    const cfg = this.config_(flags)
    const [{installGateway, parseSecretRef}, {gatewaySettingRows, parseResourceList, validateGatewayInputs}] = await Promise.all([import('../../lib/gateway/install.js'), import('../../lib/gateway/settings.js')])
    const teams = flags.tenant ?? cfg.string('tenants')?.split(',').map((t) => t.trim().split('=')[0]!).filter(Boolean) ?? []
    // omitted: undefined (keep what the cluster has); "none": null (back to the empty default)
    const orNone = (v: string | undefined) => (v === undefined ? undefined : v.trim() === 'none' ? null : v)
    const dbSecret = orNone(flags['database-url-secret'])
    const settings = {
      gatewayClass: orNone(flags['gateway-class']),
      internal: flags.internal,
      certificateArn: orNone(flags['certificate-arn']),
      hostname: orNone(flags.hostname),
      tlsSecret: orNone(flags['tls-secret']),
      replicas: flags.replicas,
      image: flags.image,
      requests: flags.requests === undefined ? undefined : parseResourceList(flags.requests, '--requests'),
      limits: flags.limits === undefined ? undefined : parseResourceList(flags.limits, '--limits'),
      databaseUrlSecret: dbSecret ? parseSecretRef(dbSecret) : (dbSecret as null | undefined),
      storageClass: orNone(flags['storage-class']),
      storageSize: flags['storage-size'],
    }
    validateGatewayInputs(settings, teams)
    const namespace = cfg.string('gateway-namespace') ?? 'aip-gateway'
    if (flags.output) {
      const r = await installGateway(undefined, {namespace, settings, dryRun: true})
      if (flags.output === 'yaml') this.print(r.manifests.map((o) => stringify(o, {lineWidth: 0})).join('---\n'))
      else if (!this.jsonEnabled()) this.print(JSON.stringify({apiVersion: 'v1', kind: 'List', items: r.manifests}, null, 2))
      const {manifests: _m, ...rest} = r
      return rest
    }
    const {kubeClientFromConfig} = await import('../../lib/deploy/context.js')
    const client = await kubeClientFromConfig(cfg)
    const timeoutMs = flags.timeout ? parseDuration(flags.timeout, '--timeout') : 10 * 60_000
    const r = await installGateway(client, {
      namespace,
      settings,
      teams,
      dryRun: flags['dry-run'],
      wait: flags.wait,
      timeoutMs,
      force: flags['force-conflicts'],
      masterKey: process.env.AIP_GATEWAY_MASTER_KEY || undefined,
      url: cfg.string('gateway-url'),
      signal: this.signal,
      onStep: (t) => this.debugLog(t),
    })
    this.print(renderTable(r.objects, [{header: 'kind', get: (o) => o.kind}, {header: 'name', get: (o) => o.name}, {header: 'action', get: (o) => o.action}]))
    this.print(renderTable(r.secrets, [{header: 'secret', get: (s) => s.name}, {header: 'action', get: (s) => s.action}]))
    this.print(renderTable(gatewaySettingRows(r.settings), [{header: 'setting', get: (x) => x.setting}, {header: 'value', get: (x) => x.value}, {header: 'action', get: (x) => (x.changed ? this.c.yellow(x.action) : x.action)}]))
    for (const n of r.notes) this.info(n)
    for (const w of r.warnings) this.warn(w)
    const kv: Array<[string, string | undefined]> = [['namespace', r.namespace]]
    if (r.ready) kv.push(['replicas', `${r.ready.ready}/${r.ready.desired} ready`])
    if (!r.dryRun && flags.wait) kv.push(['url', r.url ?? 'pending (the load balancer has no address yet): aip gateway status'])
    if (r.teams.length) kv.push(['teams', r.teams.map((t) => `${t.team} (${t.action})`).join(', ')])
    this.print(renderKeyValues(kv))
    if (!r.dryRun) this.print('next: aip gateway reconcile (registers models deployed before), aip key create --team TEAM')
    const {manifests: _m, ...rest} = r
    return rest
  }
}
