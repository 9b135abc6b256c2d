/**
 * EC2 prices from AWS for `aip cost`: the Price List Query API's GetProducts (on-demand) and EC2
 * DescribeSpotPriceHistory (spot), with aws-sdk-client-mock answering in the shapes AWS documents,
 * then the real SDK against a loopback endpoint (its own serialization: PriceList items as JSON
 * strings, EC2's XML, SigV4 scopes per region).
 */
import {DescribeSpotPriceHistoryCommand, EC2Client} from '@aws-sdk/client-ec2'
import {GetProductsCommand, PricingClient} from '@aws-sdk/client-pricing'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {type AwsStub, mockClient} from 'aws-sdk-client-mock'
import {afterAll, afterEach, beforeAll, describe, expect, it} from 'vitest'

import {awsCredentialHint} from '../../../src/lib/aws/credentials.js'
import {awsPriceFetcher, describeAwsPriceError, fetchOnDemandPrice, fetchSpotPrices, onDemandFilters, parseOnDemandPriceList, reduceSpotHistory} from '../../../src/lib/aws/pricing.js'
import {type AwsPriceServer, ec2PriceListItem, startAwsPriceServer} from '../../support/aws-price-server.mjs'

const NOW = new Date('2026-11-30T12:00:00Z')

describe('with aws-sdk-client-mock', () => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let pricing: AwsStub<any, any, any>
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let ec2: AwsStub<any, any, any>
  beforeAll(() => {
    pricing = mockClient(PricingClient)
    ec2 = mockClient(EC2Client)
  })
  afterEach(() => {
    pricing.reset()
    ec2.reset()
  })
  afterAll(() => {
    pricing.restore()
    ec2.restore()
  })

  describe('GetProducts: the on-demand price', () => {
    it('asks AmazonEC2 with TERM_MATCH filters for a running shared-tenancy Linux instance and reads terms.OnDemand', async () => {
      pricing.on(GetProductsCommand).resolves({FormatVersion: 'aws_v1', PriceList: [ec2PriceListItem({instanceType: 'g6e.xlarge', region: 'us-east-1', usd: 1.861, effectiveDate: '2025-06-01'})]})
      const r = await fetchOnDemandPrice(new PricingClient({region: 'us-east-1'}), 'us-east-1', 'g6e.xlarge')
      expect(r).toMatchObject({usd: 1.861, effectiveDate: '2025-06-01'})
      const input = pricing.commandCalls(GetProductsCommand)[0]!.args[0].input
      expect(input.ServiceCode).toBe('AmazonEC2')
      expect(Object.fromEntries(input.Filters!.map((f) => [f.Field, [f.Type, f.Value]]))).toEqual({
        instanceType: ['TERM_MATCH', 'g6e.xlarge'],
        regionCode: ['TERM_MATCH', 'us-east-1'],
        operatingSystem: ['TERM_MATCH', 'Linux'],
        tenancy: ['TERM_MATCH', 'Shared'],
        preInstalledSw: ['TERM_MATCH', 'NA'],
        capacitystatus: ['TERM_MATCH', 'Used'],
      })
    })

    it('follows NextToken, and ignores Reserved terms, other operations (Windows, RHEL) and other instance types', async () => {
      pricing
        .on(GetProductsCommand)
        .resolvesOnce({PriceList: [ec2PriceListItem({instanceType: 'p5.48xlarge', region: 'us-east-1', usd: 98.32, operation: 'RunInstances:0010', operatingSystem: 'RHEL'})], NextToken: 'page-2'})
        .resolves({PriceList: [ec2PriceListItem({instanceType: 'p5.48xlarge', region: 'us-east-1', usd: 55.04, gpus: 8}), ec2PriceListItem({instanceType: 'p5.4xlarge', region: 'us-east-1', usd: 6.88})]})
      const r = await fetchOnDemandPrice(new PricingClient({region: 'us-east-1'}), 'us-east-1', 'p5.48xlarge')
      // the Reserved term in the same document is 0.6x: the OnDemand one is taken
      expect(r).toMatchObject({usd: 55.04})
      expect(pricing.commandCalls(GetProductsCommand).map((c) => c.args[0].input.NextToken)).toEqual([undefined, 'page-2'])
    })

    it('no product, or two different prices, is named rather than guessed', () => {
      expect(parseOnDemandPriceList([], 'us-east-1', 'g6e.xlarge')).toEqual({missing: expect.stringMatching(/no on-demand Linux price for g6e\.xlarge in us-east-1/)})
      const two = [ec2PriceListItem({instanceType: 'g6e.xlarge', region: 'us-east-1', usd: 1.861}), ec2PriceListItem({instanceType: 'g6e.xlarge', region: 'us-east-1', usd: 2.0})]
      expect(parseOnDemandPriceList(two, 'us-east-1', 'g6e.xlarge')).toEqual({missing: expect.stringMatching(/2 different on-demand prices .*1\.861, 2/)})
      expect(parseOnDemandPriceList(['not json', ...two.slice(0, 1)], 'us-east-1', 'g6e.xlarge')).toMatchObject({usd: 1.861})
      expect(onDemandFilters('eu-west-1', 'g5.xlarge').every((f) => f.Type === 'TERM_MATCH')).toBe(true)
    })
  })

  describe('DescribeSpotPriceHistory: the spot price', () => {
    it('Linux/UNIX from now: the latest price per zone, then the mean over the zones (min and max kept)', async () => {
      ec2.on(DescribeSpotPriceHistoryCommand).resolves({
        SpotPriceHistory: [
          {AvailabilityZone: 'us-east-1a', InstanceType: 'g6e.12xlarge', ProductDescription: 'Linux/UNIX', SpotPrice: '4.500000', Timestamp: new Date('2026-11-30T08:00:00Z')},
          {AvailabilityZone: 'us-east-1a', InstanceType: 'g6e.12xlarge', ProductDescription: 'Linux/UNIX', SpotPrice: '4.000000', Timestamp: new Date('2026-11-30T11:00:00Z')},
          {AvailabilityZone: 'us-east-1b', InstanceType: 'g6e.12xlarge', ProductDescription: 'Linux/UNIX', SpotPrice: '5.000000', Timestamp: new Date('2026-11-29T23:00:00Z')},
          {AvailabilityZone: 'us-east-1c', InstanceType: 'g6e.12xlarge', ProductDescription: 'Linux/UNIX', SpotPrice: '3.600000', Timestamp: new Date('2026-11-30T06:00:00Z')},
          {AvailabilityZone: 'us-east-1a', InstanceType: 'p5.48xlarge', ProductDescription: 'Linux/UNIX', SpotPrice: '30.000000', Timestamp: new Date('2026-11-30T06:00:00Z')},
        ],
        NextToken: '',
      })
      const r = await fetchSpotPrices(new EC2Client({region: 'us-east-1'}), ['g6e.12xlarge', 'p5.48xlarge'], NOW)
      const g = r.get('g6e.12xlarge')!
      expect(g.usd).toBeCloseTo((4 + 5 + 3.6) / 3, 10)
      expect(g).toMatchObject({min: 3.6, max: 5})
      expect(g.zones.map((z) => [z.zone, z.usd])).toEqual([['us-east-1a', 4], ['us-east-1b', 5], ['us-east-1c', 3.6]])
      expect(r.get('p5.48xlarge')!.usd).toBe(30)
      const input = ec2.commandCalls(DescribeSpotPriceHistoryCommand)[0]!.args[0].input
      expect(input).toMatchObject({InstanceTypes: ['g6e.12xlarge', 'p5.48xlarge'], ProductDescriptions: ['Linux/UNIX'], StartTime: NOW})
    })

    it('other product descriptions and unparsable prices are ignored', () => {
      const r = reduceSpotHistory([
        {AvailabilityZone: 'us-east-1a', InstanceType: 'g5.xlarge', ProductDescription: 'Windows', SpotPrice: '9', Timestamp: NOW},
        {AvailabilityZone: 'us-east-1a', InstanceType: 'g5.xlarge', ProductDescription: 'Linux/UNIX', SpotPrice: 'n/a', Timestamp: NOW},
      ])
      expect(r.size).toBe(0)
    })
  })

  describe('AWS errors, in words a warning carries', () => {
    it('no credentials, AccessDenied / UnauthorizedOperation, unreachable, throttled', () => {
      expect(describeAwsPriceError(Object.assign(new Error('Could not load credentials from any providers'), {name: 'CredentialsProviderError'}), 'pricing:GetProducts').kind).toBe('no-credentials')
      expect(describeAwsPriceError(Object.assign(new Error('not authorized'), {name: 'AccessDeniedException'}), 'pricing:GetProducts')).toMatchObject({kind: 'access-denied', reason: expect.stringMatching(/AWS refused pricing:GetProducts \(AccessDeniedException/)})
      expect(describeAwsPriceError(Object.assign(new Error('You are not authorized'), {name: 'UnauthorizedOperation'}), 'ec2:DescribeSpotPriceHistory').kind).toBe('access-denied')
      expect(describeAwsPriceError(Object.assign(new Error('connect ECONNREFUSED'), {code: 'ECONNREFUSED'}), 'x')).toMatchObject({kind: 'unreachable', reason: 'AWS unreachable for x (ECONNREFUSED)'})
      expect(describeAwsPriceError(Object.assign(new Error('Rate exceeded'), {name: 'ThrottlingException'}), 'x').kind).toBe('throttled')
    })

    it('credentials are "configured" from env keys, a profile, web identity, container credentials or ~/.aws files, never by probing', () => {
      const home = mkdtempSync(join(tmpdir(), 'aip-home-'))
      try {
        expect(awsCredentialHint({HOME: home}).configured).toBe(false)
        expect(awsCredentialHint({HOME: home, AWS_ACCESS_KEY_ID: 'AKID', AWS_SECRET_ACCESS_KEY: 's'})).toMatchObject({configured: true, via: 'AWS_ACCESS_KEY_ID in the environment'})
        expect(awsCredentialHint({HOME: home}, 'prod').via).toBe('profile prod')
        expect(awsCredentialHint({HOME: home, AWS_CONTAINER_CREDENTIALS_FULL_URI: 'http://169.254.170.23/v1/credentials'}).configured).toBe(true)
        expect(awsCredentialHint({HOME: home, AWS_WEB_IDENTITY_TOKEN_FILE: '/t', AWS_ROLE_ARN: 'arn:aws:iam::1:role/r'}).configured).toBe(true)
        writeFileSync(join(home, 'config'), '[default]\n')
        expect(awsCredentialHint({HOME: home, AWS_CONFIG_FILE: join(home, 'config')}).configured).toBe(true)
      } finally {
        rmSync(home, {recursive: true, force: true})
      }
    })
  })
})

describe('the real SDK against a loopback Pricing + EC2 endpoint', () => {
  let server: AwsPriceServer
  const KEYS = ['AWS_ENDPOINT_URL_PRICING', 'AWS_ENDPOINT_URL_EC2', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_EC2_METADATA_DISABLED'] as const
  const saved = Object.fromEntries(KEYS.map((k) => [k, process.env[k]]))
  beforeAll(async () => {
    server = await startAwsPriceServer({
      onDemand: {'us-east-1/g6e.xlarge': 1.861, 'us-west-2/g6e.xlarge': 1.861},
      spot: [
        {region: 'us-west-2', zone: 'us-west-2a', instanceType: 'g6e.xlarge', usd: 0.7, timestamp: '2026-11-30T10:00:00.000Z'},
        {region: 'us-west-2', zone: 'us-west-2b', instanceType: 'g6e.xlarge', usd: 0.9, timestamp: '2026-11-30T11:00:00.000Z'},
        {region: 'us-east-1', zone: 'us-east-1a', instanceType: 'g6e.xlarge', usd: 5, timestamp: '2026-11-30T11:00:00.000Z'},
      ],
    })
    Object.assign(process.env, {AWS_ENDPOINT_URL_PRICING: server.endpoint, AWS_ENDPOINT_URL_EC2: server.endpoint, AWS_ACCESS_KEY_ID: 'AKIDLOOPBACK', AWS_SECRET_ACCESS_KEY: 'loopback', AWS_EC2_METADATA_DISABLED: 'true'})
  })
  afterAll(async () => {
    for (const k of KEYS) {
      if (saved[k] === undefined) delete process.env[k]
      else process.env[k] = saved[k]
    }
    await server?.stop()
  })

  it('GetProducts is signed for us-east-1 whatever the instances\' region; spot is asked in their region', async () => {
    const f = awsPriceFetcher({}, () => NOW)
    expect(await f.onDemand('us-west-2', 'g6e.xlarge')).toMatchObject({usd: 1.861, effectiveDate: '2025-06-01'})
    const spot = await f.spot('us-west-2', ['g6e.xlarge'])
    expect(spot.get('g6e.xlarge')).toMatchObject({usd: 0.8, min: 0.7, max: 0.9})
    expect(server.requests.map((r) => [r.api, r.region])).toEqual([
      ['pricing', 'us-east-1'],
      ['ec2', 'us-west-2'],
    ])
    expect(server.requests[1]!.body).toMatchObject({Action: 'DescribeSpotPriceHistory', 'InstanceType.1': 'g6e.xlarge', 'ProductDescription.1': 'Linux/UNIX'})
  })

  it('AccessDeniedException and UnauthorizedOperation arrive as SDK errors the fallback names', async () => {
    server.deny('pricing', 'AccessDeniedException')
    server.deny('ec2', 'UnauthorizedOperation')
    try {
      const f = awsPriceFetcher({}, () => NOW)
      const e1 = await f.onDemand('us-east-1', 'g6e.xlarge').catch((e: unknown) => e)
      expect(describeAwsPriceError(e1, 'pricing:GetProducts').kind).toBe('access-denied')
      const e2 = await f.spot('us-east-1', ['g6e.xlarge']).catch((e: unknown) => e)
      expect(describeAwsPriceError(e2, 'ec2:DescribeSpotPriceHistory')).toMatchObject({kind: 'access-denied', reason: expect.stringMatching(/UnauthorizedOperation/)})
    } finally {
      server.deny('pricing', undefined)
      server.deny('ec2', undefined)
    }
  })
})
