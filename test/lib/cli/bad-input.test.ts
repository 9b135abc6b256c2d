/**
 * Input checks that run before any request (the bad-input sweep): model names, empty values,
 * config keys, oclif's parse errors, Hub repo ids, template and kubeconfig paths, key options.
 */
import {mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'

import {emptyValueError} from '../../../src/flags.js'
import {loadTemplateFile} from '../../../src/lib/catalog/index.js'
import {resolveConfig} from '../../../src/lib/config/index.js'
import {oneLine, toAipError, UsageError} from '../../../src/lib/errors.js'
import {validateKeyOptions} from '../../../src/lib/gateway/keys.js'
import {loadModelSource} from '../../../src/lib/gpufit/source.js'
import {aipSelector} from '../../../src/lib/kube/labels.js'
import {loadKubeconfig} from '../../../src/lib/kube/kubeconfig.js'
import {modelNameProblem} from '../../../src/lib/names.js'

const dirs: string[] = []
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'aip-badinput-'))
  dirs.push(d)
  return d
}
afterAll(() => {
  for (const d of dirs) rmSync(d, {recursive: true, force: true})
})

function thrown(f: () => unknown): unknown {
  try {
    f()
  } catch (error) {
    return error
  }
  throw new Error('did not throw')
}

describe('model names', () => {
  it('takes catalog-style names and names what is wrong with the rest', () => {
    for (const ok of ['qwen3-8b', 'llama-3.1-8b-instruct', 'a', 'm'.repeat(40)]) expect(modelNameProblem(ok), ok).toBeUndefined()
    expect(modelNameProblem('')).toBe('is empty')
    expect(modelNameProblem('m'.repeat(41))).toMatch(/41 characters long; model names are at most 40/)
    for (const bad of ['Bad_Name', 'UP', 'x_y', '-a', 'a-', '1abc', 'a b', 'org/name']) expect(modelNameProblem(bad), bad).toMatch(/is not a model name/)
  })

  it('an empty model never widens a label selector to every model', () => {
    expect(aipSelector('')).toBe('app.kubernetes.io/managed-by=aip,aip.dev/model=')
    expect(aipSelector()).toBe('app.kubernetes.io/managed-by=aip')
  })
})

describe('empty flag and argument values', () => {
  it('are usage errors naming the flag or argument, not the default in disguise', () => {
    expect(emptyValueError({bucket: 'weights', wait: true, timeout: undefined}, {name: 'qwen3-8b'})).toBeUndefined()
    expect(emptyValueError({bucket: ''}, {})).toMatchObject({exitCode: 2, message: '--bucket is empty'})
    expect(emptyValueError({include: ['*.json', '']}, {})).toMatchObject({message: '--include is empty'})
    expect(emptyValueError({}, {value: ''})).toMatchObject({exitCode: 2, message: 'VALUE is empty'})
  })
})

describe('config keys checked when read', () => {
  const env = () => {
    const home = tempDir()
    return {env: {HOME: home, XDG_CONFIG_HOME: join(home, '.config')}, cwd: home}
  }
  it('cluster is an EKS cluster name; the error names the flag that set it (--name)', () => {
    const {env: e, cwd} = env()
    expect(resolveConfig({env: e, cwd, flags: {cluster: 'prod_eu-1'}}).get('cluster')?.value).toBe('prod_eu-1')
    expect(() => resolveConfig({env: e, cwd, flags: {cluster: 'my cluster!'}})).toThrow(/cluster from --name must be an EKS cluster name/)
    expect(() => resolveConfig({env: e, cwd, flags: {cluster: 'c'.repeat(101)}})).toThrow(UsageError)
  })
  it('prefix has real path parts; leading and trailing "/" are allowed (dropped when used)', () => {
    const {env: e, cwd} = env()
    for (const ok of ['models', 'team-a/models', '/models/', 'v1.2/models']) expect(resolveConfig({env: e, cwd, flags: {prefix: ok}}).get('prefix')?.value).toBe(ok)
    for (const bad of ['/../x', 'a//b', 'a/./b', 'my models']) expect(() => resolveConfig({env: e, cwd, flags: {prefix: bad}}), bad).toThrow(/prefix from --prefix must be an S3 key prefix/)
  })
  it('prometheus-service is NAMESPACE/NAME:PORT; gpu a known GPU; prometheus-url errors name --prometheus', () => {
    const {env: e, cwd} = env()
    expect(resolveConfig({env: e, cwd, flags: {'prometheus-service': 'monitoring/prom:web'}}).get('prometheus-service')?.value).toBe('monitoring/prom:web')
    expect(() => resolveConfig({env: {...e, AIP_PROMETHEUS_SERVICE: 'a/b/c:1'}, cwd})).toThrow(/prometheus-service from \$AIP_PROMETHEUS_SERVICE must be a service as NAMESPACE\/NAME:PORT/)
    expect(resolveConfig({env: {...e, AIP_GPU: 'l40s'}, cwd}).get('gpu')?.value).toBe('l40s')
    expect(() => resolveConfig({env: {...e, AIP_GPU: 'h1000'}, cwd})).toThrow(/gpu from \$AIP_GPU must be a known GPU type: .*h100/)
    expect(() => resolveConfig({env: e, cwd, flags: {'prometheus-url': 'nope'}})).toThrow(/prometheus-url from --prometheus is not an http\(s\) URL/)
    expect(resolveConfig({env: {...e, AIP_HTTP_TIMEOUT: '1s'}, cwd}).get('http-timeout')?.value).toBe('1s')
    expect(() => resolveConfig({env: {...e, AIP_HTTP_TIMEOUT: '1ms'}, cwd})).toThrow(/http-timeout from \$AIP_HTTP_TIMEOUT must be at least 1s/)
  })
})

describe("oclif's parse errors", () => {
  it('drop the "The following error occurred:" header', () => {
    expect(oneLine('The following error occurred:\n  Missing required flag team\nSee more help with --help')).toBe('Missing required flag team')
  })
  it("name the command's own --help in the fix", () => {
    class NonExistentFlagsError extends Error {}
    const e = toAipError(Object.assign(new NonExistentFlagsError('Nonexistent flag: --bogus\nSee more help with --help'), {oclif: {exit: 2}}), 'model:rollout:status')
    expect(e.fix).toBe('see `aip model rollout status --help` for the accepted flags and arguments')
  })
  it("an AipError from a flag's parse function loses the parser's wrapping", () => {
    const e = new UsageError('--delete-bucket "s3://x" must be the bucket name alone')
    e.message = `Parsing --delete-bucket \n\t${e.message}\nSee more help with --help` // what @oclif/core's parser does
    expect(toAipError(e).message).toBe('--delete-bucket "s3://x" must be the bucket name alone')
  })
})

describe('gpu-fit MODEL', () => {
  it('that cannot be a Hub repo id is a usage error (exit 2), not a catalog miss suggesting --template', async () => {
    for (const m of ['a/b/c', 'org/my model']) {
      const e = await loadModelSource(m).catch((error: unknown) => error)
      expect(e, m).toBeInstanceOf(UsageError)
      expect((e as UsageError).message).toMatch(/is not a Hugging Face repo id, a catalog name or a path/)
    }
    const miss = await loadModelSource('no-such-model-zz').catch((error: unknown) => error)
    expect((miss as UsageError).exitCode).toBe(4)
    expect((miss as UsageError).fix).not.toMatch(/--template/)
  })
  it('--revision with a catalog model is named as ignored', async () => {
    const warnings: string[] = []
    await loadModelSource('qwen3-8b', {revision: 'main', warn: (w) => warnings.push(w)})
    expect(warnings.join('\n')).toMatch(/--revision main is ignored for catalog model qwen3-8b/)
  })
})

describe('paths that are directories', () => {
  it('a --template directory is a usage error', () => {
    const d = tempDir()
    expect(thrown(() => loadTemplateFile(d))).toMatchObject({exitCode: 2, message: `template ${d} is a directory`})
  })
  it('a kubeconfig directory is a usage error, not "not found"', async () => {
    const d = tempDir()
    mkdirSync(join(d, 'kube'))
    await expect(loadKubeconfig({kubeconfig: join(d, 'kube')})).rejects.toMatchObject({exitCode: 2, message: expect.stringMatching(/is a directory, not a file/)})
    await expect(loadKubeconfig({env: {KUBECONFIG: join(d, 'kube'), HOME: d}})).rejects.toMatchObject({exitCode: 2})
  })
})

describe('key options', () => {
  it('are checked on their own, before any request', () => {
    expect(validateKeyOptions({team: 'team-a', expires: '30d', models: ['qwen3-8b', ' ', 'qwen3-8b']})).toEqual(['qwen3-8b'])
    expect(thrown(() => validateKeyOptions({team: 'Team_A'}))).toMatchObject({exitCode: 2, message: 'invalid team "Team_A"'})
    expect(thrown(() => validateKeyOptions({team: 't', expires: '0d'}))).toMatchObject({exitCode: 2, message: 'invalid --expires "0d"'})
    expect(thrown(() => validateKeyOptions({team: 't', models: ['', '']}))).toMatchObject({exitCode: 2, message: '--models names no model'})
  })
})

describe('S3 failures the SDK raises before any request', () => {
  it('a missing region or a bucket with "/" is a usage error, not "retry"', async () => {
    const {toS3Error} = await import('../../../src/lib/aws/s3.js')
    expect(toS3Error(new Error('Region is missing'), {bucket: 'weights', action: 'access'})).toMatchObject({exitCode: 2, message: 'no AWS region for S3', fix: expect.stringMatching(/--region/)})
    expect(toS3Error(new Error("Bucket name shouldn't contain '/', received 's3://x'"), {bucket: 's3://x'})).toMatchObject({exitCode: 2, message: '"s3://x" is not an S3 bucket name'})
  })
})

describe('cost --until', () => {
  it('in the future is refused in seconds since the epoch as in RFC 3339', async () => {
    const {parseUntil} = await import('../../../src/lib/cost/window.js')
    const now = Date.parse('2026-06-01T00:00:00Z')
    expect(parseUntil('1700000000', now)).toBe(1_700_000_000)
    expect(() => parseUntil('99999999999', now)).toThrow(/--until 99999999999 is in the future/)
    expect(() => parseUntil('2999-01-01T00:00:00Z', now)).toThrow(/is in the future/)
  })
})

describe('gpu-fit model directory with a broken safetensors file', () => {
  const header = (h: string) => {
    const len = Buffer.alloc(8)
    len.writeBigUInt64LE(BigInt(Buffer.byteLength(h)))
    return Buffer.concat([len, Buffer.from(h), Buffer.alloc(16)])
  }
  const modelDir = (st: Buffer) => {
    const d = tempDir()
    writeFileSync(join(d, 'config.json'), JSON.stringify({architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: 4096, num_hidden_layers: 32, num_attention_heads: 32, num_key_value_heads: 8, vocab_size: 32000, intermediate_size: 11008, max_position_embeddings: 4096, torch_dtype: 'bfloat16'}))
    writeFileSync(join(d, 'model.safetensors'), st)
    return d
  }
  it('a header that is not JSON is named as a safetensors problem, not as "the model\'s config.json"', async () => {
    await expect(loadModelSource(modelDir(header('{not json')))).rejects.toMatchObject({exitCode: 2, message: expect.stringMatching(/model\.safetensors is not a safetensors file \(its header is not JSON\)/)})
  })
  it('a negative dimension is refused (it counted negative parameters and fit anything)', async () => {
    await expect(loadModelSource(modelDir(header(JSON.stringify({w: {dtype: 'BF16', shape: [-5, 3], data_offsets: [0, 16]}}))))).rejects.toMatchObject({exitCode: 2, message: expect.stringMatching(/tensor "w" has shape \[-5,3\]/)})
    const {parseSafetensorsHeader} = await import('../../../src/lib/hub/safetensors.js')
    expect(() => parseSafetensorsHeader(Buffer.from(JSON.stringify({w: {dtype: 'BF16', shape: [2.5], data_offsets: [0, 5]}})))).toThrow(/tensor w has shape \[2.5\]/)
  })
})

describe('a named AWS profile', () => {
  it('that neither shared file defines is named as such (the SDK said "Could not load credentials from any providers")', async () => {
    const {checkAwsProfile} = await import('../../../src/lib/aws/credentials.js')
    const home = tempDir()
    mkdirSync(join(home, '.aws'))
    writeFileSync(join(home, '.aws', 'config'), '[default]\nregion = us-east-1\n[profile dev]\nregion = eu-west-1\n[sso-session corp]\nsso_region = us-east-1\n')
    writeFileSync(join(home, '.aws', 'credentials'), '[ci]\naws_access_key_id = x\n')
    for (const ok of ['default', 'dev', 'ci', undefined]) expect(() => checkAwsProfile(ok, {HOME: home}, home), String(ok)).not.toThrow()
    expect(thrown(() => checkAwsProfile('corp', {HOME: home}, home))).toMatchObject({exitCode: 2, message: expect.stringMatching(/AWS profile "corp" is not defined in/), fix: expect.stringMatching(/use one of: default, dev, ci/)})
    expect(() => checkAwsProfile('nope', {HOME: home, AWS_CONFIG_FILE: join(home, 'other')}, home)).toThrow(/other or/)
    // credentials from the environment serve whatever the profile says
    expect(() => checkAwsProfile('nope', {HOME: home, AWS_ACCESS_KEY_ID: 'a', AWS_SECRET_ACCESS_KEY: 'b'}, home)).not.toThrow()
  })
})

describe('file system failures no code path named', () => {
  it('name the path and a fix instead of Node\'s "ELOOP: too many symbolic links encountered, stat ..." (exit 1, no Fix)', () => {
    const errno = (code: string, syscall: string, path: string) => Object.assign(new Error(`${code}: ${syscall} '${path}'`), {code, syscall, path})
    expect(toAipError(errno('EACCES', 'open', '/home/u/.config/aip/config.yaml'))).toMatchObject({exitCode: 2, message: 'permission denied: /home/u/.config/aip/config.yaml (open)', fix: expect.stringMatching(/permissions/)})
    expect(toAipError(errno('ELOOP', 'stat', '/x/cfg'))).toMatchObject({exitCode: 2, message: '/x/cfg: too many levels of symbolic links'})
    expect(toAipError(errno('ENOENT', 'open', '/x/t.yaml'))).toMatchObject({exitCode: 4})
    expect(toAipError(errno('ENOENT', 'spawn aws', 'aws'))).toMatchObject({exitCode: 4, message: 'command not found: aws', fix: 'install aws or put it on PATH'})
    expect(toAipError(errno('ENOSPC', 'write', '/x/out'))).toMatchObject({exitCode: 1, fix: expect.stringMatching(/free some disk space/)})
    // network errors keep their own mapping
    expect(toAipError(Object.assign(new Error('connect ECONNREFUSED'), {code: 'ECONNREFUSED', syscall: 'connect', address: '127.0.0.1'})).exitCode).toBe(5)
  })

  it('a config file that is a symbolic link loop (e2e of the built CLI is in test/e2e/bad-input.test.ts)', () => {
    const home = tempDir()
    mkdirSync(join(home, '.config', 'aip'), {recursive: true})
    symlinkSync('config.yaml', join(home, '.config', 'aip', 'config.yaml'))
    expect(toAipError(thrown(() => resolveConfig({env: {HOME: home, XDG_CONFIG_HOME: join(home, '.config')}, cwd: home})))).toMatchObject({exitCode: 2, message: expect.stringMatching(/too many levels of symbolic links/)})
  })
})
