import * as Flags from '@oclif/core/flags'
import {stringify} from 'yaml'

import {AipCommand} from '../../base-command.js'
import {gatewayFlags, kubeFlags, waitFlags} from '../../flags.js'
import {parseDuration} from '../../lib/config/index.js'
import {UsageError} from '../../lib/errors.js'
import type {InstallResult} from '../../lib/gateway/install.js'
import {renderKeyValues, renderTable} from '../../lib/output/index.js'

export default class GatewayInstall extends AipCommand {
  static override summary = 'Install the gateway: one OpenAI-compatible endpoint with API keys (LiteLLM) in front of every model'
  static override description = `Applies, in namespace aip-gateway (config gateway-namespace): the LiteLLM proxy (pinned image, 2 replicas, PodDisruptionBudget, Pod Security "restricted", readiness on /health/readiness), its Postgres (a StatefulSet with a PVC; --database-url-secret names a Secret with the URL of an external database such as RDS instead), NetworkPolicies (default deny; the proxy takes port 4000 and calls DNS, its database and model servers on 8000), and the exposure: a LoadBalancer Service with AWS Load Balancer Controller NLB annotations (--internal for a private one; --certificate-arn for TLS on 443), or with --gateway-class a Gateway API Gateway + HTTPRoute (TLS from --tls-secret or --certificate-arn).
The master key (sk-..., as LiteLLM requires) and the salt key are generated into Secret litellm-master-key once and never printed; a rerun keeps them.
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
    replicas: Flags.integer({description: 'proxy replicas', default: 2, min: 1}),
    image: Flags.string({description: 'LiteLLM image (pinned tag)'}),
    'database-url-secret': Flags.string({description: 'Secret NAME[:KEY] (key default url) with the Postgres URL of an external database (RDS); no in-cluster Postgres', helpGroup: 'DATABASE'}),
    'storage-class': Flags.string({description: 'StorageClass of the in-cluster Postgres PVC (default: the cluster default)', helpGroup: 'DATABASE'}),
    'storage-size': Flags.string({description: 'size of the in-cluster Postgres PVC', default: '10Gi', helpGroup: 'DATABASE'}),
    internal: Flags.boolean({description: 'an internal NLB (reachable from the VPC only)', default: false, helpGroup: 'EXPOSURE'}),
    'gateway-class': Flags.string({description: 'expose through a Gateway API Gateway of this GatewayClass + HTTPRoute instead of a LoadBalancer Service', helpGroup: 'EXPOSURE'}),
    hostname: Flags.string({description: 'hostname of the HTTPRoute / Gateway listener', helpGroup: 'EXPOSURE'}),
    'certificate-arn': Flags.string({description: 'ACM certificate for TLS (NLB listener on 443, or the Gateway listener)', helpGroup: 'EXPOSURE'}),
    'tls-secret': Flags.string({description: 'TLS Secret (kubernetes.io/tls) for the Gateway listener', helpGroup: 'EXPOSURE'}),
    tenant: Flags.string({description: 'tenant to make a gateway team for (repeatable; default: config tenants)', multiple: true}),
    'dry-run': Flags.boolean({description: 'server-side dry run: validate, store nothing (without a cluster: render only)', default: false}),
    output: Flags.string({char: 'o', description: 'print the rendered objects only (Secrets are created by install, never rendered with values)', options: ['yaml', 'json']}),
    'force-conflicts': Flags.boolean({description: 'take over fields another field manager owns', default: false}),
  }

  async run(): Promise<Omit<InstallResult, 'manifests'>> {
    const {flags} = await this.parse(GatewayInstall)
    const cfg = this.config_(flags)
    const {installGateway, parseSecretRef} = await import('../../lib/gateway/install.js')
    if (flags['tls-secret'] && !flags['gateway-class']) throw new UsageError('--tls-secret needs --gateway-class (the NLB takes --certificate-arn)', {fix: 'add --gateway-class CLASS, or use --certificate-arn'})
    if (flags.hostname && !flags['gateway-class']) throw new UsageError('--hostname needs --gateway-class', {fix: 'add --gateway-class CLASS, or point a DNS name at the load balancer yourself'})
    if (flags.internal && flags['gateway-class']) throw new UsageError('--internal applies to the LoadBalancer Service, not to --gateway-class', {fix: 'set the scheme on the GatewayClass / its parameters instead'})
    const teams = flags.tenant ?? cfg.string('tenants')?.split(',').map((t) => t.trim().split('=')[0]!).filter(Boolean) ?? []
    const render = {
      namespace: cfg.string('gateway-namespace') ?? 'aip-gateway',
      replicas: flags.replicas,
      image: flags.image,
      databaseUrlSecret: flags['database-url-secret'] ? parseSecretRef(flags['database-url-secret']) : undefined,
      storageClass: flags['storage-class'],
      storageSize: flags['storage-size'],
      exposure: flags['gateway-class']
        ? {kind: 'httproute' as const, gatewayClass: flags['gateway-class'], hostname: flags.hostname, certificateArn: flags['certificate-arn'], tlsSecret: flags['tls-secret']}
        : {kind: 'loadbalancer' as const, internal: flags.internal, certificateArn: flags['certificate-arn']},
    }
    if (flags.output) {
      const r = await installGateway(undefined, {render, dryRun: true})
      if (flags.output === 'yaml') this.print(r.manifests.map((o) => stringify(o, {lineWidth: 0})).join('---\n'))
      else if (!this.jsonEnabled()) this.print(JSON.stringify({apiVersion: 'v1', kind: 'List', items: r.manifests}, null, 2))
      const {manifests: _m, ...rest} = r
      return rest
    }
    const {kubeClientFromConfig} = await import('../../lib/deploy/context.js')
    const client = await kubeClientFromConfig(cfg)
    const timeoutMs = flags.timeout ? parseDuration(flags.timeout, '--timeout') : 10 * 60_000
    const r = await installGateway(client, {
      render,
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
