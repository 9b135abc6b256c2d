// A loopback AWS Price List Query API (JSON 1.1: POST /, X-Amz-Target AWSPriceListService.GetProducts)
// and EC2 DescribeSpotPriceHistory (Query protocol: form-encoded POST, XML answer) for tests: point
// the CLI at it with AWS_ENDPOINT_URL_PRICING and AWS_ENDPOINT_URL_EC2 (the SDK reads both). The
// answers have the shapes AWS documents: each PriceList item is a product document as a JSON string
// (product.attributes, terms.OnDemand.<sku>.<term>.priceDimensions.<rate>.pricePerUnit.USD, and the
// Reserved terms GetProducts also returns), and spot history items per availability zone. The EC2
// region comes from the request's SigV4 credential scope, as the real endpoint is per region.
import {createServer} from 'node:http'

const LOCATIONS = {'us-east-1': 'US East (N. Virginia)', 'us-east-2': 'US East (Ohio)', 'us-west-2': 'US West (Oregon)', 'eu-west-1': 'EU (Ireland)', 'eu-central-1': 'EU (Frankfurt)'}
const USAGE_PREFIX = {'us-east-1': '', 'us-east-2': 'USE2-', 'us-west-2': 'USW2-', 'eu-west-1': 'EU-', 'eu-central-1': 'EUC1-'}
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

/**
 * One GetProducts PriceList item (a JSON string) for a shared-tenancy Linux instance: the product's
 * attributes as the EC2 offer file has them, its OnDemand term (offer term JRTCKXETXF, hourly rate
 * 6YS6EN2CT7) and a 1-year Reserved term, which the on-demand price must not be taken from.
 * @param {{instanceType: string, region: string, usd: number, effectiveDate?: string, operatingSystem?: string, operation?: string, gpus?: number}} p
 */
export function ec2PriceListItem(p) {
  const sku = `SKU${Buffer.from(`${p.region}/${p.instanceType}/${p.operation ?? 'RunInstances'}`).toString('hex').slice(0, 13).toUpperCase()}`
  const effective = `${p.effectiveDate ?? '2025-06-01'}T00:00:00Z`
  const os = p.operatingSystem ?? 'Linux'
  return JSON.stringify({
    product: {
      productFamily: 'Compute Instance',
      attributes: {
        enhancedNetworkingSupported: 'Yes',
        memory: '32 GiB',
        vcpu: '4',
        capacitystatus: 'Used',
        locationType: 'AWS Region',
        instanceFamily: 'GPU instance',
        operatingSystem: os,
        regionCode: p.region,
        physicalProcessor: 'AMD EPYC 7R13 Processor',
        servicename: 'Amazon Elastic Compute Cloud',
        gpu: String(p.gpus ?? 1),
        instanceType: p.instanceType,
        tenancy: 'Shared',
        usagetype: `${USAGE_PREFIX[p.region] ?? ''}BoxUsage:${p.instanceType}`,
        servicecode: 'AmazonEC2',
        licenseModel: 'No License required',
        currentGeneration: 'Yes',
        preInstalledSw: 'NA',
        location: LOCATIONS[p.region] ?? p.region,
        processorArchitecture: '64-bit',
        marketoption: 'OnDemand',
        operation: p.operation ?? 'RunInstances',
        availabilityzone: 'NA',
      },
      sku,
    },
    serviceCode: 'AmazonEC2',
    terms: {
      OnDemand: {
        [`${sku}.JRTCKXETXF`]: {
          priceDimensions: {
            [`${sku}.JRTCKXETXF.6YS6EN2CT7`]: {
              unit: 'Hrs',
              endRange: 'Inf',
              description: `$${p.usd} per On Demand ${os} ${p.instanceType} Instance Hour`,
              appliesTo: [],
              rateCode: `${sku}.JRTCKXETXF.6YS6EN2CT7`,
              beginRange: '0',
              pricePerUnit: {USD: p.usd.toFixed(10)},
            },
          },
          sku,
          effectiveDate: effective,
          offerTermCode: 'JRTCKXETXF',
          termAttributes: {},
        },
      },
      Reserved: {
        [`${sku}.4NA7Y494T4`]: {
          priceDimensions: {
            [`${sku}.4NA7Y494T4.6YS6EN2CT7`]: {unit: 'Hrs', endRange: 'Inf', description: `${os} ${p.instanceType} reserved`, appliesTo: [], rateCode: `${sku}.4NA7Y494T4.6YS6EN2CT7`, beginRange: '0', pricePerUnit: {USD: (p.usd * 0.6).toFixed(10)}},
          },
          sku,
          effectiveDate: effective,
          offerTermCode: '4NA7Y494T4',
          termAttributes: {LeaseContractLength: '1yr', OfferingClass: 'standard', PurchaseOption: 'No Upfront'},
        },
      },
    },
    version: '20251128000000',
    publicationDate: '2025-11-28T00:00:00Z',
  })
}

/**
 * @param {{onDemand?: Record<string, number>, spot?: Array<{region: string, zone: string, instanceType: string, usd: number, timestamp: string}>}} [opts]
 *   onDemand: "region/instanceType" -> USD per hour
 */
export async function startAwsPriceServer(opts = {}) {
  const onDemand = new Map(Object.entries(opts.onDemand ?? {}))
  const spot = [...(opts.spot ?? [])]
  /** @type {Array<{api: 'pricing' | 'ec2', region?: string, body: any}>} */
  const requests = []
  /** @type {{pricing?: string, ec2?: string}} */
  const denied = {}

  const server = createServer((req, res) => {
    let text = ''
    req.on('data', (d) => (text += d))
    req.on('end', () => {
      const target = req.headers['x-amz-target']
      const region = /Credential=[^/]+\/\d+\/([^/]+)\//.exec(String(req.headers.authorization ?? ''))?.[1]
      if (target) {
        const body = JSON.parse(text || '{}')
        requests.push({api: 'pricing', region, body})
        const json = (status, o) => {
          res.writeHead(status, {'content-type': 'application/x-amz-json-1.1'})
          res.end(JSON.stringify(o))
        }
        if (denied.pricing) return json(400, {__type: denied.pricing, Message: 'User: arn:aws:iam::123456789012:user/ops is not authorized to perform: pricing:GetProducts'})
        if (target !== 'AWSPriceListService.GetProducts') return json(400, {__type: 'InvalidParameterException', Message: `unknown target ${target}`})
        const f = Object.fromEntries((body.Filters ?? []).map((x) => [x.Field, x.Value]))
        const items = []
        for (const [key, usd] of onDemand) {
          const [r, type] = key.split('/')
          if ((f.regionCode === undefined || f.regionCode === r) && (f.instanceType === undefined || f.instanceType === type)) items.push(ec2PriceListItem({instanceType: type, region: r, usd}))
        }
        return json(200, {FormatVersion: 'aws_v1', PriceList: items})
      }
      const p = new URLSearchParams(text)
      const action = p.get('Action')
      const params = Object.fromEntries(p)
      requests.push({api: 'ec2', region, body: params})
      const xml = (status, body) => {
        res.writeHead(status, {'content-type': 'text/xml;charset=UTF-8'})
        res.end(`<?xml version="1.0" encoding="UTF-8"?>\n${body}`)
      }
      if (denied.ec2) return xml(403, `<Response><Errors><Error><Code>${denied.ec2}</Code><Message>You are not authorized to perform this operation.</Message></Error></Errors><RequestID>r-1</RequestID></Response>`)
      if (action !== 'DescribeSpotPriceHistory') return xml(400, `<Response><Errors><Error><Code>InvalidAction</Code><Message>${esc(action)}</Message></Error></Errors><RequestID>r-1</RequestID></Response>`)
      const types = Object.entries(params).filter(([k]) => /^InstanceType\.\d+$/.test(k)).map(([, v]) => v)
      const items = spot.filter((s) => s.region === region && (types.length === 0 || types.includes(s.instanceType)))
      const itemXml = items
        .map((s) => `<item><instanceType>${esc(s.instanceType)}</instanceType><productDescription>Linux/UNIX</productDescription><spotPrice>${s.usd.toFixed(6)}</spotPrice><timestamp>${s.timestamp}</timestamp><availabilityZone>${esc(s.zone)}</availabilityZone></item>`)
        .join('')
      return xml(200, `<DescribeSpotPriceHistoryResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r-1</requestId><spotPriceHistorySet>${itemXml}</spotPriceHistorySet><nextToken/></DescribeSpotPriceHistoryResponse>`)
    })
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)))
  const {port} = /** @type {import('node:net').AddressInfo} */ (server.address())
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    /** @param {'pricing' | 'ec2'} api @param {string | undefined} code */
    deny(api, code) {
      denied[api] = code
    },
    stop: () => new Promise((resolve) => server.close(() => resolve(undefined))),
  }
}
