// A loopback EKS endpoint (REST-JSON, as the AWS SDK speaks it) for e2e tests: point the CLI at it
// with AIP_EKS_ENDPOINT. It serves DescribeCluster, CreateCluster, DeleteCluster, ListNodegroups,
// DescribeNodegroup, CreateNodegroup, DeleteNodegroup, DescribeAddon, CreateAddon, UpdateAddon (configurationValues) and the Pod
// Identity association calls (List with namespace/serviceAccount filters, Create, Describe,
// Update); CreateCluster keeps computeConfig (Auto Mode) and the VPC config; state changes (CREATING -> ACTIVE,
// DELETING -> gone) happen after a number of Describe calls, so no test depends on timing.
// Errors use the x-amzn-errortype header the SDK reads. Plain JS so benches can import it too.
import {createServer} from 'node:http'

/**
 * @param {{clusters?: Array<{name: string, endpoint: string, version?: string, status?: string, ca?: string, nodegroups?: string[]}>, region?: string, transitions?: number, createdEndpoint?: string, createdCa?: string}} [opts]
 */
export async function startEksServer(opts = {}) {
  const region = opts.region ?? 'us-east-1'
  const steps = opts.transitions ?? 2
  /** @type {Map<string, any>} */
  const clusters = new Map()
  const requests = []
  let fault = /** @type {undefined | {status: number, type: string, message: string}} */ (undefined)

  const mkCluster = (c) => ({
    name: c.name,
    arn: `arn:aws:eks:${region}:123456789012:cluster/${c.name}`,
    status: c.status ?? 'ACTIVE',
    version: c.version ?? '1.31',
    platformVersion: 'eks.10',
    endpoint: c.endpoint,
    certificateAuthority: c.ca ? {data: c.ca} : {},
    createdAt: 1_700_000_000,
    ...(c.computeConfig ? {computeConfig: c.computeConfig} : {}),
    ...(c.resourcesVpcConfig ? {resourcesVpcConfig: c.resourcesVpcConfig} : {}),
    identity: {oidc: {issuer: `https://oidc.eks.${region}.amazonaws.com/id/${c.name.toUpperCase()}0123456789`}},
    _left: 0,
    _addons: new Map(),
    _assoc: [],
    nodegroups: new Map((c.nodegroups ?? []).map((n) => [n, {nodegroupName: n, clusterName: c.name, status: 'ACTIVE', instanceTypes: ['m6i.large'], scalingConfig: {minSize: 1, desiredSize: 2, maxSize: 3}, _left: 0}])),
  })
  for (const c of opts.clusters ?? []) clusters.set(c.name, mkCluster(c))

  const send = (res, status, body, type) => {
    const h = {'content-type': 'application/json'}
    if (type) h['x-amzn-errortype'] = type
    res.writeHead(status, h)
    res.end(JSON.stringify(body))
  }
  const notFound = (res, what) => send(res, 404, {message: `No ${what} found`}, 'ResourceNotFoundException')
  const pub = (o) => Object.fromEntries(Object.entries(o).filter(([k]) => !k.startsWith('_') && k !== 'nodegroups'))
  let assocSeq = 0
  // advance CREATING/DELETING one step per describe
  const tick = (o, onGone) => {
    if (o.status === 'CREATING' || o.status === 'DELETING') {
      o._left -= 1
      if (o._left <= 0) {
        if (o.status === 'CREATING') o.status = 'ACTIVE'
        else return onGone()
      }
    }
    return o
  }

  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (d) => (body += d))
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x')
      const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent)
      requests.push({method: req.method, path: url.pathname, auth: Boolean(req.headers.authorization), body: body ? JSON.parse(body) : undefined})
      if (fault) return send(res, fault.status, {message: fault.message}, fault.type)
      const json = body ? JSON.parse(body) : {}
      if (parts[0] !== 'clusters') return send(res, 404, {message: 'unknown path'}, 'UnknownOperationException')
      if (parts.length === 1 && req.method === 'POST') {
        if (clusters.has(json.name)) return send(res, 409, {message: `Cluster already exists with name: ${json.name}`}, 'ResourceInUseException')
        const c = mkCluster({name: json.name, endpoint: opts.createdEndpoint ?? 'https://example.invalid', ca: opts.createdCa, status: 'CREATING', version: json.version, computeConfig: json.computeConfig, resourcesVpcConfig: json.resourcesVpcConfig})
        c._left = steps
        clusters.set(json.name, c)
        return send(res, 200, {cluster: pub(c)})
      }
      const c = clusters.get(parts[1])
      if (parts.length === 2) {
        if (!c) return notFound(res, `cluster found for name: ${parts[1]}.`)
        if (req.method === 'GET') {
          const cur = tick(c, () => {
            clusters.delete(c.name)
            return undefined
          })
          if (!cur) return notFound(res, `cluster found for name: ${parts[1]}.`)
          return send(res, 200, {cluster: pub(cur)})
        }
        if (req.method === 'DELETE') {
          if (c.nodegroups.size > 0) return send(res, 409, {message: `Cluster has nodegroups attached`}, 'ResourceInUseException')
          if (c.status !== 'DELETING') {
            c.status = 'DELETING'
            c._left = steps
          }
          return send(res, 200, {cluster: pub(c)})
        }
      }
      if (!c) return notFound(res, `cluster found for name: ${parts[1]}.`)
      if (parts[2] === 'addons') {
        if (parts.length === 3 && req.method === 'POST') {
          if (c._addons.has(json.addonName)) return send(res, 409, {message: 'Addon already exists'}, 'ResourceInUseException')
          const a = {addonName: json.addonName, clusterName: c.name, status: 'ACTIVE', addonVersion: 'v1.19.0-eksbuild.1', ...(json.configurationValues ? {configurationValues: json.configurationValues} : {})}
          c._addons.set(json.addonName, a)
          return send(res, 200, {addon: a})
        }
        const a = c._addons.get(parts[3])
        if (parts.length === 4 && req.method === 'GET') return a ? send(res, 200, {addon: a}) : notFound(res, `addon found for name: ${parts[3]}.`)
        // UpdateAddon: POST /clusters/{name}/addons/{addonName}/update (configurationValues replaces the add-on's)
        if (parts.length === 5 && parts[4] === 'update' && req.method === 'POST') {
          if (!a) return notFound(res, `addon found for name: ${parts[3]}.`)
          if (json.configurationValues !== undefined) a.configurationValues = json.configurationValues
          return send(res, 200, {update: {id: `u-${c._addons.size}`, status: 'InProgress', type: 'AddonUpdate', params: [{type: 'ConfigurationValues', value: json.configurationValues}]}})
        }
      }
      if (parts[2] === 'pod-identity-associations') {
        if (parts.length === 3 && req.method === 'GET') {
          const ns = url.searchParams.get('namespace')
          const sa = url.searchParams.get('serviceAccount')
          const list = c._assoc.filter((a) => (!ns || a.namespace === ns) && (!sa || a.serviceAccount === sa))
          return send(res, 200, {associations: list.map(({roleArn: _r, ...a}) => a)})
        }
        if (parts.length === 3 && req.method === 'POST') {
          if (c._assoc.some((a) => a.namespace === json.namespace && a.serviceAccount === json.serviceAccount)) return send(res, 409, {message: 'Association already exists'}, 'ResourceInUseException')
          const a = {clusterName: c.name, namespace: json.namespace, serviceAccount: json.serviceAccount, roleArn: json.roleArn, associationId: `a-${++assocSeq}`, associationArn: `arn:aws:eks:${region}:123456789012:podidentityassociation/${c.name}/a-${assocSeq}`}
          c._assoc.push(a)
          return send(res, 200, {association: a})
        }
        const a = c._assoc.find((x) => x.associationId === parts[3])
        if (!a) return notFound(res, `association found for id: ${parts[3]}.`)
        if (req.method === 'GET') return send(res, 200, {association: a})
        if (req.method === 'POST') {
          a.roleArn = json.roleArn
          return send(res, 200, {association: a})
        }
      }
      if (parts[2] === 'node-groups') {
        if (parts.length === 3 && req.method === 'GET') return send(res, 200, {nodegroups: [...c.nodegroups.keys()]})
        if (parts.length === 3 && req.method === 'POST') {
          if (c.nodegroups.has(json.nodegroupName)) return send(res, 409, {message: 'NodeGroup already exists'}, 'ResourceInUseException')
          const n = {nodegroupName: json.nodegroupName, clusterName: c.name, status: 'CREATING', instanceTypes: json.instanceTypes, scalingConfig: json.scalingConfig, amiType: json.amiType, taints: json.taints, labels: json.labels, _left: steps}
          c.nodegroups.set(json.nodegroupName, n)
          return send(res, 200, {nodegroup: pub(n)})
        }
        const n = c.nodegroups.get(parts[3])
        if (!n) return notFound(res, `node group found for name: ${parts[3]}.`)
        if (req.method === 'GET') {
          const cur = tick(n, () => {
            c.nodegroups.delete(n.nodegroupName)
            return undefined
          })
          if (!cur) return notFound(res, `node group found for name: ${parts[3]}.`)
          return send(res, 200, {nodegroup: pub(cur)})
        }
        if (req.method === 'DELETE') {
          if (n.status !== 'DELETING') {
            n.status = 'DELETING'
            n._left = steps
          }
          return send(res, 200, {nodegroup: pub(n)})
        }
      }
      return send(res, 404, {message: 'unknown path'}, 'UnknownOperationException')
    })
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)))
  const port = /** @type {import('node:net').AddressInfo} */ (server.address()).port
  return {
    endpoint: `http://127.0.0.1:${port}`,
    clusters,
    requests,
    /** Pod Identity associations of a cluster (namespace, serviceAccount, roleArn, associationId). */
    associations: (name) => clusters.get(name)?._assoc ?? [],
    addons: (name) => [...(clusters.get(name)?._addons.keys() ?? [])],
    /** every request answers this error until cleared (e.g. {status: 403, type: 'AccessDeniedException', message: '...'}) */
    fail(f) {
      fault = f
    },
    stop: () => new Promise((resolve) => server.close(() => resolve(undefined))),
  }
}
