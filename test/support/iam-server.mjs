// A loopback IAM + STS endpoint (the AWS Query protocol: form-encoded POST, XML answers) for e2e
// tests: point the CLI at it with AWS_ENDPOINT_URL_IAM and AWS_ENDPOINT_URL_STS (the AWS SDK reads
// both). Serves GetCallerIdentity, GetRole, CreateRole, UpdateAssumeRolePolicy, GetRolePolicy,
// PutRolePolicy, ListOpenIDConnectProviders and CreateOpenIDConnectProvider, keeping state, so a
// second bootstrap sees what the first created. Policy documents come back URL-encoded, as IAM's do.
// Errors use <ErrorResponse><Error><Code>, which the SDK maps to its exception classes.
import {createServer} from 'node:http'

const IAM_NS = 'https://iam.amazonaws.com/doc/2010-05-08/'
const STS_NS = 'https://sts.amazonaws.com/doc/2011-06-15/'
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

/** @param {{account?: string}} [opts] */
export async function startIamServer(opts = {}) {
  const account = opts.account ?? '123456789012'
  /** @type {Map<string, {trust: string, policies: Map<string, string>, created: string, attached?: Set<string>}>} */
  const roles = new Map()
  const oidc = new Set()
  const requests = []
  let deny = /** @type {string | undefined} */ (undefined)

  const xml = (res, status, body) => {
    res.writeHead(status, {'content-type': 'text/xml'})
    res.end(`<?xml version="1.0" encoding="UTF-8"?>\n${body}`)
  }
  const ok = (res, action, ns, result = '') => xml(res, 200, `<${action}Response xmlns="${ns}"><${action}Result>${result}</${action}Result><ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></${action}Response>`)
  const err = (res, status, code, message) => xml(res, status, `<ErrorResponse xmlns="${IAM_NS}"><Error><Type>Sender</Type><Code>${code}</Code><Message>${esc(message)}</Message></Error><RequestId>r-1</RequestId></ErrorResponse>`)
  const roleXml = (name, r) =>
    `<Role><Path>/</Path><RoleName>${esc(name)}</RoleName><RoleId>AROA${name.length}</RoleId><Arn>arn:aws:iam::${account}:role/${esc(name)}</Arn><CreateDate>${r.created}</CreateDate><AssumeRolePolicyDocument>${esc(encodeURIComponent(r.trust))}</AssumeRolePolicyDocument></Role>`

  const server = createServer((req, res) => {
    let body = ''
    req.on('data', (d) => (body += d))
    req.on('end', () => {
      const p = new URLSearchParams(body)
      const action = p.get('Action') ?? ''
      requests.push({action, params: Object.fromEntries(p), auth: Boolean(req.headers.authorization)})
      if (deny && action === deny) return err(res, 403, 'AccessDenied', `User: arn:aws:iam::${account}:user/ops is not authorized to perform: iam:${action}`)
      const name = p.get('RoleName') ?? ''
      const role = roles.get(name)
      const noRole = () => err(res, 404, 'NoSuchEntity', `The role with name ${name} cannot be found.`)
      switch (action) {
        case 'GetCallerIdentity':
          return ok(res, action, STS_NS, `<Arn>arn:aws:iam::${account}:user/ops</Arn><UserId>AIDA0</UserId><Account>${account}</Account>`)
        case 'GetRole':
          return role ? ok(res, action, IAM_NS, roleXml(name, role)) : noRole()
        case 'CreateRole': {
          if (role) return err(res, 409, 'EntityAlreadyExists', `Role with name ${name} already exists.`)
          const r = {trust: p.get('AssumeRolePolicyDocument') ?? '', policies: new Map(), created: new Date(0).toISOString()}
          roles.set(name, r)
          return ok(res, action, IAM_NS, roleXml(name, r))
        }
        case 'UpdateAssumeRolePolicy':
          if (!role) return noRole()
          role.trust = p.get('PolicyDocument') ?? ''
          return ok(res, action, IAM_NS)
        case 'GetRolePolicy': {
          if (!role) return noRole()
          const doc = role.policies.get(p.get('PolicyName') ?? '')
          if (doc === undefined) return err(res, 404, 'NoSuchEntity', `The role policy with name ${p.get('PolicyName')} cannot be found.`)
          return ok(res, action, IAM_NS, `<RoleName>${esc(name)}</RoleName><PolicyName>${esc(p.get('PolicyName'))}</PolicyName><PolicyDocument>${esc(encodeURIComponent(doc))}</PolicyDocument>`)
        }
        case 'PutRolePolicy':
          if (!role) return noRole()
          role.policies.set(p.get('PolicyName') ?? '', p.get('PolicyDocument') ?? '')
          return ok(res, action, IAM_NS)
        case 'ListAttachedRolePolicies':
          if (!role) return noRole()
          return ok(res, action, IAM_NS, `<AttachedPolicies>${[...(role.attached ?? [])].map((a) => `<member><PolicyArn>${esc(a)}</PolicyArn><PolicyName>${esc(a.split('/').pop())}</PolicyName></member>`).join('')}</AttachedPolicies><IsTruncated>false</IsTruncated>`)
        case 'AttachRolePolicy':
          if (!role) return noRole()
          ;(role.attached ??= new Set()).add(p.get('PolicyArn') ?? '')
          return ok(res, action, IAM_NS)
        case 'ListOpenIDConnectProviders':
          return ok(res, action, IAM_NS, `<OpenIDConnectProviderList>${[...oidc].map((a) => `<member><Arn>${esc(a)}</Arn></member>`).join('')}</OpenIDConnectProviderList>`)
        case 'CreateOpenIDConnectProvider': {
          const arn = `arn:aws:iam::${account}:oidc-provider/${(p.get('Url') ?? '').replace(/^https:\/\//, '')}`
          if (oidc.has(arn)) return err(res, 409, 'EntityAlreadyExists', 'Provider exists')
          oidc.add(arn)
          return ok(res, action, IAM_NS, `<OpenIDConnectProviderArn>${esc(arn)}</OpenIDConnectProviderArn>`)
        }
        default:
          return err(res, 400, 'InvalidAction', `Could not find operation ${action}`)
      }
    })
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)))
  const port = /** @type {import('node:net').AddressInfo} */ (server.address()).port
  return {
    endpoint: `http://127.0.0.1:${port}`,
    account,
    roles,
    oidc,
    requests,
    /** every call of this action answers 403 AccessDenied until cleared */
    deny(action) {
      deny = action
    },
    stop: () => new Promise((resolve) => server.close(() => resolve(undefined))),
  }
}
