import {mkdtempSync, readFileSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'

import {parseBytes, parseDuration, resolveConfig, writeConfigKey} from '../../../src/lib/config/index.js'
import {UsageError} from '../../../src/lib/errors.js'

function dirs() {
  const home = mkdtempSync(join(tmpdir(), 'aip-cfg-home-'))
  const cwd = mkdtempSync(join(tmpdir(), 'aip-cfg-cwd-'))
  const env = {HOME: home, XDG_CONFIG_HOME: join(home, '.config')}
  return {home, cwd, env, global: join(home, '.config', 'aip', 'config.yaml'), local: join(cwd, 'aip.yaml')}
}

describe('config resolution', () => {
  it('takes flag > env > ./aip.yaml > user file > default, and says where each came from', () => {
    const d = dirs()
    writeConfigKey(d.global, 'region', 'eu-west-1')
    writeConfigKey(d.global, 'bucket', 'global-bucket')
    writeConfigKey(d.global, 'cluster', 'from-global')
    writeFileSync(d.local, 'bucket: local-bucket\ncluster: from-local\n')
    const env = {...d.env, AIP_CLUSTER: 'from-env'}
    const r = resolveConfig({env, cwd: d.cwd, flags: {namespace: 'from-flag'}})
    expect(r.get('namespace')).toMatchObject({value: 'from-flag', source: 'flag'})
    expect(r.get('cluster')).toMatchObject({value: 'from-env', source: 'env:AIP_CLUSTER'})
    expect(r.get('bucket')).toMatchObject({value: 'local-bucket', source: `file:${d.local}`})
    expect(r.get('region')).toMatchObject({value: 'eu-west-1', source: `file:${d.global}`})
    expect(r.get('gpu-memory-utilization')).toMatchObject({value: 0.9, source: 'default'})
    expect(r.get('prometheus-url')).toMatchObject({value: undefined, source: 'unset'})
  })

  it('falls back to the ecosystem variables (AWS_REGION, HF_ENDPOINT) after AIP_*', () => {
    const d = dirs()
    const r = resolveConfig({env: {...d.env, AWS_REGION: 'us-east-2', HF_ENDPOINT: 'http://127.0.0.1:8080/'}, cwd: d.cwd})
    expect(r.get('region')).toMatchObject({value: 'us-east-2', source: 'env:AWS_REGION'})
    expect(r.get('hf-endpoint')).toMatchObject({value: 'http://127.0.0.1:8080', source: 'env:HF_ENDPOINT'})
    const r2 = resolveConfig({env: {...d.env, AWS_REGION: 'us-east-2', AIP_REGION: 'ap-south-1'}, cwd: d.cwd})
    expect(r2.get('region')?.value).toBe('ap-south-1')
  })

  it('rejects unknown keys with a suggestion, bad values with the key named, and malformed files', () => {
    const d = dirs()
    expect(() => writeConfigKey(d.global, 'regoin', 'x')).toThrow(/unknown config key "regoin"/)
    try {
      writeConfigKey(d.global, 'regoin', 'x')
    } catch (error) {
      expect((error as UsageError).fix).toMatch(/did you mean "region"/)
      expect((error as UsageError).exitCode).toBe(2)
    }
    expect(() => writeConfigKey(d.global, 'gpu-memory-utilization', '1.5')).toThrow(UsageError)
    expect(() => writeConfigKey(d.global, 'timeout', 'soon')).toThrow(/invalid timeout/)
    writeFileSync(d.local, 'bucket: [unclosed\n')
    expect(() => resolveConfig({env: d.env, cwd: d.cwd})).toThrow(/not valid YAML/)
    writeFileSync(d.local, 'buckt: x\n')
    expect(() => resolveConfig({env: d.env, cwd: d.cwd})).toThrow(/unknown key "buckt".*/)
  })

  it('validates names: namespaces (DNS-1123), a bucket name (not a URL), a region code', () => {
    const d = dirs()
    expect(() => writeConfigKey(d.global, 'namespace', 'Bad_NS')).toThrow(/namespace .*must be a Kubernetes namespace name/)
    expect(() => writeConfigKey(d.global, 'gateway-namespace', 'x'.repeat(64))).toThrow(UsageError)
    expect(writeConfigKey(d.global, 'namespace', 'team-a')).toBe('team-a')
    expect(() => writeConfigKey(d.global, 'bucket', 's3://weights/models')).toThrow(/bucket name alone, e\.g\. weights/)
    expect(() => writeConfigKey(d.global, 'bucket', 'weights/models')).toThrow(/bucket name \(no "\/" or spaces\)/)
    // the store enforces its own naming rules: legacy us-east-1 buckets may hold capitals
    expect(writeConfigKey(d.global, 'bucket', 'Legacy_Bucket')).toBe('Legacy_Bucket')
    expect(writeConfigKey(d.global, 'bucket', 'acme.llm-weights')).toBe('acme.llm-weights')
    expect(() => writeConfigKey(d.global, 'region', 'US East 1')).toThrow(/region code/)
    for (const r of ['us-east-1', 'eu-central-2', 'us-gov-west-1', 'cn-north-1', 'auto']) expect(writeConfigKey(d.global, 'region', r)).toBe(r)
    // from the environment too, naming where the bad value came from
    expect(() => resolveConfig({env: {...d.env, AWS_REGION: 'us_east_1'}, cwd: d.cwd})).toThrow(/AWS_REGION/)
  })

  it('set keeps comments and other keys; unset removes only the key', () => {
    const d = dirs()
    writeFileSync(d.local, '# team defaults\nregion: us-east-1\nbucket: old\n')
    writeConfigKey(d.local, 'bucket', 'new')
    expect(readFileSync(d.local, 'utf8')).toBe('# team defaults\nregion: us-east-1\nbucket: new\n')
    writeConfigKey(d.local, 'bucket', undefined)
    expect(readFileSync(d.local, 'utf8')).toBe('# team defaults\nregion: us-east-1\n')
  })
})

describe('value parsers', () => {
  it('parses durations', () => {
    expect(parseDuration('90s')).toBe(90_000)
    expect(parseDuration('10m')).toBe(600_000)
    expect(parseDuration('1h30m')).toBe(5_400_000)
    expect(parseDuration('250ms')).toBe(250)
    expect(parseDuration('5')).toBe(5000)
    expect(() => parseDuration('-1s')).toThrow(UsageError)
    expect(() => parseDuration('0')).toThrow(UsageError)
  })
  it('parses sizes in SI and binary units', () => {
    expect(parseBytes('24GiB')).toBe(24 * 1024 ** 3)
    expect(parseBytes('24Gi')).toBe(24 * 1024 ** 3)
    expect(parseBytes('80GB')).toBe(80e9)
    expect(parseBytes('46068MiB')).toBe(46068 * 1024 ** 2)
    expect(() => parseBytes('lots')).toThrow(UsageError)
    expect(() => parseBytes('0GiB')).toThrow(UsageError)
    expect(() => parseBytes('12XB')).toThrow(UsageError)
  })
})
